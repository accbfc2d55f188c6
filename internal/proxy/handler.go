package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Store is what /object needs from the token store.
type Store interface {
	Access(ctx context.Context, tok string, req token.Request) (*token.Grant, error)
	Refund(ctx context.Context, g *token.Grant) error
	MarkUploaded(ctx context.Context, g *token.Grant) error
}

// Notifier queues asset.access webhooks.
type Notifier interface {
	Enqueue(ctx context.Context, target string, ev callback.Event) error
}

// Errors the handler returns besides the token store's and the backends'.
var (
	// ErrUpstream means the object store failed (502 upstream_error).
	ErrUpstream = errors.New("object store failed")
	// ErrClientGone means the client went away before the response was complete.
	ErrClientGone = errors.New("client went away")
	// ErrForbidden means the token is bound to addresses the client is not in (403).
	ErrForbidden = errors.New("this token cannot be used from this address")
	// ErrUnsupportedMediaType means an upload's Content-Type is not one its token allows (415).
	ErrUnsupportedMediaType = errors.New("content type not allowed for this token")
)

// BodyError means the client's upload body could not be read (a malformed chunked stream,
// a truncated body).
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "reading request body: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// Options configures a Handler.
type Options struct {
	Store   Store
	Buckets map[string]objstore.Backend
	// Notifier receives one event per successful access of a token that has a callback.
	// Nil: no webhooks.
	Notifier Notifier
	// ClientIP returns the client's address after trusted-proxy handling. Nil: the TCP peer.
	ClientIP func(*http.Request) string
	Logger   *slog.Logger
	// Now is the clock for event timestamps; nil means time.Now.
	Now func() time.Time
	// Redirect holds, per bucket alias, whether its tokens redirect to presigned URLs by
	// default, and how long those URLs live.
	Redirect map[string]Redirect
}

// Redirect is a bucket alias's redirect-delivery policy.
type Redirect struct {
	// Default makes tokens that do not choose a delivery redirect.
	Default bool
	// TTL is how long a presigned URL lives (buckets.<alias>.presign_ttl). Required.
	TTL time.Duration
}

// Handler serves /object/{token}.
//
// Hit accounting: a hit is reserved atomically (token.Store.Access) before the object store is
// called, and handed back (Refund) when nothing was delivered: the object is missing, the
// range is unsatisfiable, the object store fails before the response starts or cuts the body
// short, or a PUT fails for any reason (too large, client gone, upstream error). A GET the
// client abandons mid-stream keeps its hit. HEAD never consumes one.
type Handler struct {
	store    Store
	buckets  map[string]objstore.Backend
	notifier Notifier
	clientIP func(*http.Request) string
	log      *slog.Logger
	now      func() time.Time
	redirect map[string]Redirect
}

// New returns a Handler.
func New(o Options) *Handler {
	h := &Handler{store: o.Store, buckets: o.Buckets, notifier: o.Notifier, clientIP: o.ClientIP, log: o.Logger, now: o.Now,
		redirect: o.Redirect}
	if h.clientIP == nil {
		h.clientIP = func(r *http.Request) string { return peerIP(r.RemoteAddr) }
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// afterwardTimeout bounds store and queue calls made after the client may have gone
// (refunds, upload marks, webhook enqueues): they run on a context detached from the request.
const afterwardTimeout = 5 * time.Second

// Afterward is the context of such a call for request r: r's values, not its cancellation,
// bounded by afterwardTimeout.
func Afterward(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), afterwardTimeout)
}

// access checks the token and reserves a hit. A client that leaves while the token store
// answers is ErrClientGone (logged 499), whatever the store made of it.
func (h *Handler) access(r *http.Request, method string, contentLength int64) (*token.Grant, objstore.Backend, error) {
	tok := r.PathValue("token")
	if !token.WellFormed(tok) {
		return nil, nil, token.ErrNotFound // indistinguishable from an unknown token
	}
	admit := Admit(r, r.Method, h.clientIP, h.now)
	g, err := h.store.Access(r.Context(), tok, token.Request{Method: method, ContentLength: contentLength, Admit: admit})
	if err != nil {
		if r.Context().Err() != nil {
			return nil, nil, ErrClientGone
		}
		return nil, nil, err
	}
	be := h.buckets[g.Record.Bucket]
	if be == nil {
		h.Refund(r, g)
		return nil, nil, fmt.Errorf("%w: bucket alias %q is not configured", ErrUpstream, g.Record.Bucket)
	}
	return g, be, nil
}

// Refund hands back the hit g consumed for request r, if it consumed one; a failure is
// logged (the hit stays consumed: fail closed).
func (h *Handler) Refund(r *http.Request, g *token.Grant) {
	if !g.Consumed {
		return
	}
	ctx, cancel := Afterward(r)
	defer cancel()
	if err := h.store.Refund(ctx, g); err != nil {
		h.log.Warn("refund_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
	}
}

// upstream wraps a backend failure for the error writer, keeping the contract's sentinels.
func upstream(err error) error {
	for _, known := range []error{objstore.ErrObjectNotFound, objstore.ErrRangeNotSatisfiable, objstore.ErrPreconditionFailed, objstore.ErrNotModified, objstore.ErrChecksumMismatch} {
		if errors.Is(err, known) {
			return err
		}
	}
	if errors.Is(err, objstore.ErrInvalidKey) { // a key a directory cannot hold cannot exist there
		return fmt.Errorf("%w: %w", objstore.ErrObjectNotFound, err)
	}
	return fmt.Errorf("%w: %w", ErrUpstream, err)
}

// Get serves GET and HEAD /object/{token}.
func (h *Handler) Get(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		return h.head(w, r)
	}
	g, be, err := h.access(r, http.MethodGet, -1)
	if err != nil {
		return err
	}
	if g.Record.Method == token.MethodList {
		if BelowToken(r) {
			h.Refund(r, g)
			return objstore.ErrObjectNotFound // a listing has no objects below it
		}
		return h.list(w, r, g, be)
	}
	key, err := objectKey(r, &g.Record)
	if err != nil {
		h.Refund(r, g)
		return err
	}
	if p, ttl, ok := h.redirecting(&g.Record, be); ok {
		return h.redirectGet(w, r, g, p, ttl, key)
	}
	return h.ServeGet(w, r, g, be, key)
}

// head serves HEAD: the GET headers without a body; it never consumes a hit.
func (h *Handler) head(w http.ResponseWriter, r *http.Request) error {
	g, be, err := h.access(r, http.MethodHead, -1)
	if err != nil {
		return err
	}
	if g.Record.Method == token.MethodList {
		if BelowToken(r) {
			return objstore.ErrObjectNotFound
		}
		return h.list(w, r, g, be) // a HEAD of the listing: net/http sends no body
	}
	key, err := objectKey(r, &g.Record)
	if err != nil {
		return err
	}
	return h.ServeHead(w, r, g, be, key)
}

// Put serves PUT /object/{token}: the request body is streamed to the bucket.
func (h *Handler) Put(w http.ResponseWriter, r *http.Request) error {
	g, be, err := h.access(r, http.MethodPut, r.ContentLength)
	if err != nil {
		return err
	}
	if p, ttl, ok := h.redirecting(&g.Record, be); ok && r.ContentLength >= 0 {
		return h.redirectPut(w, r, g, p, ttl)
	}
	res, err := h.ServePut(r, g, be, r.Body, r.ContentLength)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr["ETag"] = []string{`"` + res.ETag + `"`} // as S3 answers a PutObject
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(struct {
		ETag string `json:"etag"`
		Size int64  `json:"size"`
	}{res.ETag, res.Size})
}

// Delete serves DELETE /object/{token}: the object is removed (idempotent, as S3's
// DeleteObject: a missing object is no error) and a hit is consumed.
func (h *Handler) Delete(w http.ResponseWriter, r *http.Request) error {
	g, be, err := h.access(r, http.MethodDelete, -1)
	if err != nil {
		return err
	}
	if err := h.ServeDelete(r, g, be, g.Record.Key); err != nil {
		return err
	}
	setSafetyHeaders(w.Header())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
