package proxy

import (
	"net/http"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// redirecting tells whether an access is answered with a redirect to a presigned URL: the
// token asks for it, or leaves it to an alias that redirects by default, and the store can
// presign. Uploads that the gateway must check as they stream (sha256, metadata,
// if_none_match) always stream.
func (h *Handler) redirecting(rec *token.Record, be objstore.Backend) (objstore.Presigner, time.Duration, bool) {
	pol := h.redirect[rec.Bucket]
	switch {
	case rec.Delivery == token.DeliveryStream, rec.Delivery == "" && !pol.Default:
		return nil, 0, false
	case rec.Method == token.MethodPut && (rec.SHA256 != "" || len(rec.Metadata) > 0 || rec.IfNoneMatch):
		return nil, 0, false
	}
	p, ok := objstore.AsPresigner(be)
	if !ok {
		return nil, 0, false
	}
	return p, pol.TTL, true
}

// redirectGet answers a GET with 307 to a presigned URL that carries the token's file name
// and caching headers: the hit is spent, and the gateway moves no object bytes.
func (h *Handler) redirectGet(w http.ResponseWriter, r *http.Request, g *token.Grant, p objstore.Presigner, ttl time.Duration, key string) error {
	rec := &g.Record
	// The presigned answer comes from the store's origin, not the gateway's: its type is not
	// known here and cannot run on the gateway's origin.
	o := objstore.ResponseOverrides{CacheControl: rec.CacheControl, ContentDisposition: dispositionOf(rec, false)}
	u, err := p.PresignGet(r.Context(), key, ttl, o)
	if err != nil {
		h.Refund(r, g)
		return upstream(err)
	}
	h.Notify(r, r.Method, g, key, http.StatusTemporaryRedirect, 0, "")
	redirect(w, u)
	return nil
}

// redirectPut answers a PUT of known length with 307 to a presigned PUT URL that only
// accepts that length and Content-Type. The hit is spent when the URL is handed out (the
// gateway does not see the upload finish: /status reads object_exists from the bucket).
func (h *Handler) redirectPut(w http.ResponseWriter, r *http.Request, g *token.Grant, p objstore.Presigner, ttl time.Duration) error {
	rec := &g.Record
	u, _, err := p.PresignPut(r.Context(), rec.Key, ttl, r.ContentLength, r.Header.Get("Content-Type"))
	if err != nil {
		h.Refund(r, g)
		return upstream(err)
	}
	h.Notify(r, r.Method, g, rec.Key, http.StatusTemporaryRedirect, r.ContentLength, "")
	redirect(w, u)
	return nil
}

func redirect(w http.ResponseWriter, u string) {
	hdr := w.Header()
	hdr.Set("Location", u)
	setSafetyHeaders(hdr)
	w.WriteHeader(http.StatusTemporaryRedirect)
}
