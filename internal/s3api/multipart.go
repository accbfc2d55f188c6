package s3api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// A multipart upload is an upload session of the token (token.Upload, Kind "s3"): the
// UploadId a client sees is the session's id, the store's own upload id stays in the
// session, and the session is bound to the key, the token and the token generation that
// created it. It costs one hit, at Create, which the session holds (Hit): Complete clears
// Hit before it asks the store to assemble the object — so a gateway that dies there keeps
// the hit spent — and deletes the session; Abort deletes the session, handing the hit back;
// so does the upload janitor with an upload abandoned past its token's expiry (Owner).

// uploadKind names the listener's upload sessions.
const uploadKind = "s3"

// Bounds of the multipart calls.
const (
	// completeLease is how long Complete and Abort hold the session's lock; the janitor
	// waits for it too.
	completeLease = 15 * time.Minute
	// maxCompleteBody caps CompleteMultipartUpload's XML (10,000 parts with checksums).
	maxCompleteBody = 4 << 20
	// casAttempts bounds the retries of a session update that lost a race.
	casAttempts = 32
)

// createMultipart serves CreateMultipartUpload: the token's hit, the store's multipart
// upload, then the session holding both.
func (h *Handler) createMultipart(c *call) error {
	g, be, key, err := h.grant(c, token.MethodPut, -1)
	if err != nil {
		return err
	}
	rec := &g.Record
	mp, ok := objstore.AsMultipart(be)
	switch {
	case !ok:
		h.objects.Refund(c.r, g)
		return fmt.Errorf("s3api: bucket alias %q has no multipart API", rec.Bucket)
	case rec.SHA256 != "":
		h.objects.Refund(c.r, g)
		return newError(codeInvalidRequest, "This token expects the upload's SHA-256 (sha256), which the gateway checks "+
			"as one PutObject streams: send the object in one PutObject instead of a multipart upload.")
	}
	ctx := c.r.Context()
	storeID, err := mp.CreateMultipart(ctx, key, objstore.MultipartOptions{ContentType: c.r.Header.Get("Content-Type"), Metadata: rec.Metadata})
	if err != nil {
		h.objects.Refund(c.r, g)
		return err
	}
	u, err := h.store.CreateUpload(ctx, g, token.Upload{Kind: uploadKind, Bucket: rec.Bucket, Key: key, StoreID: storeID,
		Length: -1, ExpiresAt: rec.ExpireAt * 1000, Hit: true})
	if err != nil {
		actx, cancel := proxy.Afterward(c.r)
		defer cancel()
		if aerr := mp.AbortMultipart(actx, key, storeID); aerr != nil {
			h.log.Warn("s3_abort_failed", "request_id", c.reqID, "error", aerr)
		}
		h.objects.Refund(c.r, g)
		return err
	}
	return writeXML(c.w, http.StatusOK, initiateMultipartUploadResult{Bucket: c.op.bucket, Key: key, UploadID: u.ID})
}

// multipartOf is the multipart API of a bucket alias.
func (h *Handler) multipartOf(alias string) (objstore.Multipart, error) {
	if mp, ok := objstore.AsMultipart(h.buckets[alias]); ok {
		return mp, nil
	}
	return nil, fmt.Errorf("s3api: bucket alias %q has no multipart API", alias)
}

// uploadPart serves UploadPart: the part streams to the store's upload, decoded and verified
// on the way (a part that fails a check is not stored). It costs no hit. With a size cap,
// the part is counted toward it before it streams (reserve).
func (h *Handler) uploadPart(c *call) error {
	size := c.auth.DecodedLength
	if size < 0 {
		return newError(codeMissingLength, "You must provide the Content-Length HTTP header.")
	}
	ctx := c.r.Context()
	u, g, err := h.session(ctx, c)
	if err != nil {
		return err
	}
	mp, err := h.multipartOf(u.Bucket)
	if err != nil {
		return err
	}
	if err := h.reserve(ctx, c, mp, u, g.Record.Size, size); err != nil {
		return err
	}
	body := proxy.NewLimitedBody(c.objectBody(), -1) // remembers the body's own failure
	part, err := mp.UploadPart(ctx, u.Key, u.StoreID, c.op.part, body, size)
	if err != nil {
		h.release(c, u.ID, g.Record.Size, size)
		switch {
		case body.Err() != nil:
			return body.Err()
		case ctx.Err() != nil:
			return errClientGone
		}
		return err
	}
	c.w.Header()["ETag"] = []string{`"` + part.ETag + `"`}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// reserve counts a part of size bytes toward the token's size cap (limit; Unlimited: no
// cap) in the session's Offset, the bytes of parts accepted so far. A part sent again under
// the same number counts again, until the count would pass the cap: then the parts the
// store holds are summed afresh, less the part this one replaces. Completion checks the cap
// exactly, on the parts it assembles; this bounds what a client can park in the store.
func (h *Handler) reserve(ctx context.Context, c *call, mp objstore.Multipart, u token.Upload, limit, size int64) error {
	if limit == token.Unlimited {
		return nil
	}
	tooLarge := newError(codeEntityTooLarge, "Your proposed upload exceeds the maximum allowed size (the token's size limit)")
	if size > limit {
		return tooLarge
	}
	for range casAttempts {
		if u.Offset+size > limit {
			parts, err := mp.ListParts(ctx, u.Key, u.StoreID)
			if err != nil {
				return err
			}
			var sum int64
			for _, p := range parts {
				if p.Number != c.op.part {
					sum += p.Size
				}
			}
			if sum+size > limit {
				return tooLarge
			}
			u.Offset = sum
		}
		u.Offset += size
		_, err := h.store.UpdateUpload(ctx, c.tokenID, u)
		if !errors.Is(err, token.ErrConflict) {
			return err
		}
		if u, _, err = h.store.Upload(ctx, c.tokenID, u.ID); err != nil {
			return err
		}
	}
	return newError(codeOperationAborted, "A conflicting operation is in progress against this upload. Please try again.")
}

// release takes back what reserve counted for a part that was not stored (best effort: a
// count left too high only sends the next reservation to the store's own sum).
func (h *Handler) release(c *call, uploadID string, limit, size int64) {
	if limit == token.Unlimited {
		return
	}
	ctx, cancel := proxy.Afterward(c.r)
	defer cancel()
	for range casAttempts {
		u, _, err := h.store.Upload(ctx, c.tokenID, uploadID)
		if err != nil {
			return
		}
		u.Offset = max(0, u.Offset-size)
		if _, err := h.store.UpdateUpload(ctx, c.tokenID, u); !errors.Is(err, token.ErrConflict) {
			return
		}
	}
}

// listParts serves ListParts: the parts the store holds, max-parts at a time after
// part-number-marker.
func (h *Handler) listParts(c *call) error {
	ctx := c.r.Context()
	q := c.r.URL.Query()
	marker, limit := int64(0), int64(1000)
	var err error
	if v := q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.ParseInt(v, 10, 32); err != nil || marker < 0 {
			return newError(codeInvalidArgument, "part-number-marker must be a non-negative integer")
		}
	}
	if v := q.Get("max-parts"); v != "" {
		if limit, err = strconv.ParseInt(v, 10, 32); err != nil || limit < 0 {
			return newError(codeInvalidArgument, "max-parts must be a non-negative integer")
		}
		limit = min(limit, 1000)
	}
	u, _, err := h.session(ctx, c)
	if err != nil {
		return err
	}
	mp, err := h.multipartOf(u.Bucket)
	if err != nil {
		return err
	}
	parts, err := mp.ListParts(ctx, u.Key, u.StoreID)
	if err != nil {
		return err
	}
	res := listPartsResult{Bucket: c.op.bucket, Key: u.Key, UploadID: u.ID, PartNumberMarker: int32(marker),
		MaxParts: int(limit), StorageClass: "STANDARD"}
	for _, p := range parts {
		if int64(p.Number) <= marker {
			continue
		}
		if int64(len(res.Parts)) == limit {
			res.IsTruncated = true
			break
		}
		res.Parts = append(res.Parts, partInfo{PartNumber: p.Number, ETag: `"` + p.ETag + `"`, Size: p.Size,
			LastModified: formatTime(time.Time{})})
		res.NextPartNumberMarker = p.Number
	}
	return writeXML(c.w, http.StatusOK, res)
}

// abortMultipart serves AbortMultipartUpload: the store's upload is discarded and the
// session deleted, which hands the hit back.
func (h *Handler) abortMultipart(c *call) error {
	ctx := c.r.Context()
	u, _, unlock, err := h.lockedSession(ctx, c)
	if err != nil {
		return err
	}
	defer unlock()
	mp, err := h.multipartOf(u.Bucket)
	if err != nil {
		return err
	}
	if err := mp.AbortMultipart(ctx, u.Key, u.StoreID); err != nil {
		return err
	}
	if err := h.store.DeleteUpload(ctx, c.tokenID, u.ID); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// lockedSession is session, under the session's lock (one Complete or Abort at a time, and
// never while the janitor ends it); unlock releases it.
func (h *Handler) lockedSession(ctx context.Context, c *call) (token.Upload, *token.Grant, func(), error) {
	if _, _, err := h.session(ctx, c); err != nil {
		return token.Upload{}, nil, nil, err
	}
	holder := "s3:" + c.reqID
	ok, err := h.store.LockUpload(ctx, c.tokenID, c.op.uploadID, holder, completeLease)
	switch {
	case err != nil:
		return token.Upload{}, nil, nil, err
	case !ok:
		return token.Upload{}, nil, nil, newError(codeOperationAborted,
			"A conflicting operation is in progress against this upload. Please try again.")
	}
	unlock := func() {
		actx, cancel := proxy.Afterward(c.r)
		defer cancel()
		_ = h.store.UnlockUpload(actx, c.tokenID, c.op.uploadID, holder)
	}
	u, g, err := h.session(ctx, c) // as it stands under the lock
	if err != nil {
		unlock()
		return u, nil, nil, err
	}
	return u, g, unlock, nil
}

// location is the URL of an object on the listener, for CompleteMultipartUpload's answer.
func (h *Handler) location(bucket, key string) string {
	return h.endpoint + "/" + url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
}

// readBody reads a small request body whole (verified by sigv4), up to limit bytes.
func readBody(c *call, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(c.auth.Body(c.r.Body), limit+1))
	switch {
	case err != nil:
		return nil, err
	case int64(len(b)) > limit:
		return nil, newError(codeMalformedXML, "The XML you provided was too large.")
	}
	return b, nil
}
