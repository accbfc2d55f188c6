package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// completeMultipart serves CompleteMultipartUpload, under the session's lock: the parts named
// must be the ones the store holds (number and ETag, ascending) and fit the token's size
// cap; then the session lets go of its hit, the store assembles the object (visible whole,
// or not at all), the session is deleted and the token marked uploaded, with its webhook. A
// refused completion leaves the upload open, as S3 does.
func (h *Handler) completeMultipart(c *call) error {
	ctx := c.r.Context()
	ifNoneMatch, err := conditionalWrite(c.r)
	if err != nil {
		return err
	}
	body, err := readBody(c, maxCompleteBody)
	if err != nil {
		return err
	}
	var doc completeMultipartUpload
	if err := xml.Unmarshal(body, &doc); err != nil || len(doc.Parts) == 0 {
		return newError(codeMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	u, g, unlock, err := h.lockedSession(ctx, c)
	if err != nil {
		return err
	}
	defer unlock()
	mp, err := h.multipartOf(u.Bucket)
	if err != nil {
		return err
	}
	stored, err := mp.ListParts(ctx, u.Key, u.StoreID)
	if err != nil {
		return err
	}
	parts, total, err := matchParts(doc, stored)
	if err != nil {
		return err
	}
	if limit := g.Record.Size; limit != token.Unlimited && total > limit {
		return newError(codeEntityTooLarge, "Your proposed upload exceeds the maximum allowed size (the token's size limit)")
	}
	if u, err = h.setHit(ctx, c, u, false); err != nil {
		return err
	}
	res, err := mp.CompleteMultipart(ctx, u.Key, u.StoreID, parts, objstore.CompleteOptions{IfNoneMatch: g.Record.IfNoneMatch || ifNoneMatch})
	if err != nil {
		actx, cancel := proxy.Afterward(c.r)
		defer cancel()
		if _, herr := h.setHit(actx, c, u, true); herr != nil {
			h.log.Warn("s3_hit_not_restored", "request_id", c.reqID, "error", herr) // the hit stays spent
		}
		return err
	}
	actx, cancel := proxy.Afterward(c.r)
	defer cancel()
	if err := h.store.DeleteUpload(actx, c.tokenID, u.ID); err != nil {
		h.log.Warn("s3_upload_not_deleted", "request_id", c.reqID, "error", err) // the janitor ends it
	}
	g.Notify = true // the grant of a session consumed nothing; the completion is the access
	h.objects.Stored(c.r, g, u.Key, res)
	return writeXML(c.w, http.StatusOK, completeMultipartUploadResult{Location: h.location(c.op.bucket, u.Key),
		Bucket: c.op.bucket, Key: u.Key, ETag: `"` + res.ETag + `"`})
}

// matchParts checks the parts a client names against the ones the store holds and returns
// them with their sizes, and their total.
func matchParts(doc completeMultipartUpload, stored []objstore.Part) ([]objstore.Part, int64, error) {
	byNumber := make(map[int32]objstore.Part, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	parts := make([]objstore.Part, 0, len(doc.Parts))
	var total int64
	for i, want := range doc.Parts {
		if i > 0 && want.PartNumber <= doc.Parts[i-1].PartNumber {
			return nil, 0, newError(codeInvalidPartOrder, "The list of parts was not in ascending order. Parts must be ordered by part number.")
		}
		p, ok := byNumber[want.PartNumber]
		if !ok || strings.Trim(strings.TrimSpace(want.ETag), `"`) != p.ETag {
			return nil, 0, newError(codeInvalidPart, "One or more of the specified parts could not be found. "+
				"The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
		}
		if i < len(doc.Parts)-1 && p.Size < objstore.MinPartSize {
			return nil, 0, newError(codeEntityTooSmall, "Your proposed upload is smaller than the minimum allowed object size.")
		}
		parts = append(parts, p)
		total += p.Size
	}
	return parts, total, nil
}

// setHit sets whether the session holds its hit (compare-and-set, retried on a lost race)
// and returns the session as stored.
func (h *Handler) setHit(ctx context.Context, c *call, u token.Upload, hit bool) (token.Upload, error) {
	for range casAttempts {
		u.Hit = hit
		nu, err := h.store.UpdateUpload(ctx, c.tokenID, u)
		if !errors.Is(err, token.ErrConflict) {
			return nu, err
		}
		if u, _, err = h.store.Upload(ctx, c.tokenID, u.ID); err != nil {
			return u, err
		}
	}
	return u, newError(codeOperationAborted, "A conflicting operation is in progress against this upload. Please try again.")
}
