package s3api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Admission: every operation finds its token's record through the access key's ID and nonce
// (token.Request.S3), judges the client as /object does (ip, an upload's content type), and
// then checks the scope — the bucket alias and the key must be the token's, or under its
// prefix. An access that reserved a hit and then fails the scope hands the hit back, as
// /object does for a bad path below a prefix token.

// grant reserves the access of an object operation: method is the token method it stands for
// (GET, HEAD, PUT, DELETE), length a PUT's declared length (-1 unknown). It returns the grant,
// the bucket alias's backend and the key.
func (h *Handler) grant(c *call, method string, length int64) (*token.Grant, objstore.Backend, string, error) {
	r := c.r
	g, err := h.store.AccessID(r.Context(), c.tokenID, token.Request{
		Method: method, ContentLength: length, S3: c.nonce,
		Admit: proxy.Admit(r, method, h.clientIP, h.now),
	})
	if err != nil {
		if r.Context().Err() != nil {
			return nil, nil, "", errClientGone
		}
		return nil, nil, "", err
	}
	key, err := objectKey(&g.Record, c.op)
	if err != nil {
		h.objects.Refund(r, g)
		return nil, nil, "", err
	}
	be := h.buckets[g.Record.Bucket]
	if be == nil {
		h.objects.Refund(r, g)
		return nil, nil, "", fmt.Errorf("s3api: bucket alias %q is not configured", g.Record.Bucket)
	}
	return g, be, key, nil
}

// objectKey is the key an object operation names, if the token grants it: the token's key,
// or a key in its prefix's folder (whole path segments, the rules of /object/{token}/{rest}).
func objectKey(rec *token.Record, o op) (string, error) {
	if o.bucket != rec.Bucket {
		return "", errOtherKey
	}
	if rec.Prefix == "" {
		if o.key != rec.Key {
			return "", errOtherKey
		}
		return o.key, nil
	}
	rest, ok := strings.CutPrefix(o.key, proxy.Folder(rec.Prefix))
	if !ok {
		return "", errOtherKey
	}
	return proxy.KeyUnder(rec.Prefix, rest)
}

// record reads the token's record for an operation that costs nothing and reads no object
// (ListBuckets, HeadBucket, GetBucketLocation): it must be live and admit the client.
func (h *Handler) record(c *call) (token.Record, error) {
	r := c.r
	rec, err := h.store.GetID(r.Context(), c.tokenID)
	switch {
	case err != nil && r.Context().Err() != nil:
		return rec, errClientGone
	case err != nil:
		return rec, err
	case rec.S3 != c.nonce:
		return rec, token.ErrNotFound // credentials of an earlier minting of the token
	}
	if err := proxy.Admit(r, http.MethodHead, h.clientIP, h.now)(&rec); err != nil {
		return rec, err
	}
	if h.now().UnixMilli() >= rec.ExpireAt*1000 {
		return rec, token.ErrExpired
	}
	return rec, nil
}

// session finds the upload session a multipart call names, as its token stands now: the
// token must be live, minted with these credentials, grant the key and admit the client,
// and the upload must be an S3 upload of that key. The grant consumed nothing.
func (h *Handler) session(ctx context.Context, c *call) (token.Upload, *token.Grant, error) {
	if !token.ValidUploadID(c.op.uploadID) {
		return token.Upload{}, nil, errNoUpload
	}
	u, g, err := h.store.Upload(ctx, c.tokenID, c.op.uploadID)
	switch {
	case err != nil && c.r.Context().Err() != nil:
		return u, nil, errClientGone
	case err != nil:
		return u, nil, err
	case g.Record.S3 != c.nonce:
		return u, nil, token.ErrNotFound
	}
	if _, err := objectKey(&g.Record, c.op); err != nil {
		return u, nil, err
	}
	if u.Kind != uploadKind || u.Bucket != c.op.bucket || u.Key != c.op.key {
		return u, nil, errNoUpload
	}
	if err := proxy.Admit(c.r, http.MethodHead, h.clientIP, h.now)(&g.Record); err != nil { // the address; no content type here
		return u, nil, err
	}
	if h.now().UnixMilli() >= g.Record.ExpireAt*1000 {
		return u, nil, token.ErrExpired
	}
	return u, g, nil
}

// peerIP is the TCP peer's address, the client's when no ClientIP is configured.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
