package uppy

import (
	"errors"
	"net/http"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Params serves GET /uppy/{token}/s3/params?filename=&type=&metadata[…]=: a POST policy for
// the token's key, with a content-length-range of 0 to the token's size (5 GiB without
// one), the exact Content-Type the client declared (judged against the token's
// content_types) and the token's metadata. Handing it out consumes the token's hit, as a
// redirect does; the gateway does not see the form upload land, so the webhook reports
// status 307 then and the token is not marked uploaded (/status reads object_exists live).
func (h *Handler) Params(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		return errHead
	}
	ct, err := contentType(r.URL.Query().Get("type"))
	if err != nil {
		return err
	}
	g, a, err := h.start(r, ct)
	if err != nil {
		return err
	}
	rec := &g.Record
	if rec.IfNoneMatch {
		h.refund(r, g)
		return errFormNoOverwrite
	}
	limit := int64(maxFormSize)
	if rec.Size >= 0 {
		limit = min(rec.Size, limit)
	}
	url, fields, err := a.Objects.PresignPost(r.Context(), rec.Key, a.PresignTTL,
		objstore.PostPolicy{MaxSize: limit, ContentType: ct, Metadata: rec.Metadata})
	if err != nil {
		h.refund(r, g)
		return upstream(err)
	}
	h.notify(r, rec, http.StatusTemporaryRedirect, 0, "")
	return writeJSON(w, http.StatusOK, struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Fields  map[string]string `json:"fields"`
		Expires int64             `json:"expires"`
	}{"POST", url, fields, int64(a.PresignTTL / time.Second)})
}

// Create serves POST /uppy/{token}/s3/multipart {filename, type, metadata}: it consumes the
// token's hit, starts a multipart upload of the token's key with the declared type (judged
// against content_types) and the token's metadata, and files it as an upload session that
// holds the hit. The answer's uploadId is the session's id; key is the token's key, whatever
// file name the client proposed.
func (h *Handler) Create(w http.ResponseWriter, r *http.Request) error {
	if !token.WellFormed(r.PathValue("token")) {
		return token.ErrNotFound // before the body: a stranger learns nothing more
	}
	var req struct {
		Type string `json:"type"` // filename and metadata are ignored: the token decides
	}
	if err := readJSON(w, r, maxCreateBody, &req); err != nil {
		return err
	}
	ct, err := contentType(req.Type)
	if err != nil {
		return err
	}
	g, a, err := h.start(r, ct)
	if err != nil {
		return err
	}
	rec := &g.Record
	storeID, err := a.Objects.CreateMultipart(r.Context(), rec.Key, objstore.MultipartOptions{ContentType: ct, Metadata: rec.Metadata})
	if err != nil {
		h.refund(r, g)
		if r.Context().Err() != nil {
			return proxy.ErrClientGone
		}
		return upstream(err)
	}
	expires := time.Unix(rec.ExpireAt, 0).Add(h.retention).UnixMilli()
	u, err := h.store.CreateUpload(r.Context(), g, token.Upload{Kind: Kind, Bucket: rec.Bucket, Key: rec.Key, StoreID: storeID,
		Length: -1, ExpiresAt: expires, Hit: true})
	if err != nil {
		ctx, cancel := afterward(r)
		defer cancel()
		if aerr := a.Objects.AbortMultipart(ctx, rec.Key, storeID); aerr != nil {
			h.log.Warn("uppy_abort_failed", "request_id", r.Header.Get("X-Request-Id"), "error", aerr)
		}
		h.refund(r, g)
		if errors.Is(err, token.ErrNotFound) || r.Context().Err() == nil {
			return err // the token was revoked meanwhile (404), or the store failed (503)
		}
		return proxy.ErrClientGone
	}
	h.log.Info("uppy_upload_started", "request_id", r.Header.Get("X-Request-Id"), "upload_id", u.ID, "content_type", ct)
	return writeJSON(w, http.StatusOK, struct {
		UploadID string `json:"uploadId"`
		Key      string `json:"key"`
	}{u.ID, rec.Key})
}
