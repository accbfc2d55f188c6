package proxy

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/assetgateway/assetgateway/internal/byterange"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/edge"
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
	// TTL is how long a presigned URL lives; zero: 30 seconds.
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
		h.refund(r, g)
		return nil, nil, fmt.Errorf("%w: bucket alias %q is not configured", ErrUpstream, g.Record.Bucket)
	}
	return g, be, nil
}

// refund hands a hit back; a failure is logged (the hit stays consumed: fail closed).
func (h *Handler) refund(r *http.Request, g *token.Grant) {
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
			h.refund(r, g)
			return objstore.ErrObjectNotFound // a listing has no objects below it
		}
		return h.list(w, r, g, be)
	}
	key, err := objectKey(r, &g.Record)
	if err != nil {
		h.refund(r, g)
		return err
	}
	if p, ttl, ok := h.redirecting(&g.Record, be); ok {
		return h.redirectGet(w, r, g, p, ttl, key)
	}
	opts := objstore.GetOptions{Range: byterange.Parse(r.Header.Get("Range")), Conditions: Conditions(r)}
	obj, err := be.Get(r.Context(), key, opts)
	if ifRange := r.Header.Get("If-Range"); err == nil && obj.Partial && ifRange != "" && !ifRangeHolds(ifRange, obj.ObjectInfo) {
		// The object changed since the client's partial copy: it gets the whole new one.
		obj.Body.Close()
		opts.Range = nil
		obj, err = be.Get(r.Context(), key, opts)
	}
	if err != nil {
		h.refund(r, g) // nothing delivered: not modified, precondition failed, missing, …
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		var nm *objstore.NotModifiedError
		if errors.As(err, &nm) {
			NotModified(w, nm.Info)
			return nil
		}
		var re *objstore.RangeError
		if errors.As(err, &re) && re.Size >= 0 {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(re.Size, 10))
		}
		return upstream(err)
	}
	defer obj.Body.Close()

	hdr := w.Header()
	ObjectHeaders(hdr, &g.Record, obj.ObjectInfo)
	hdr.Set("Content-Length", strconv.FormatInt(obj.Length, 10))
	status := http.StatusOK
	if obj.Partial {
		status = http.StatusPartialContent
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", obj.Start, obj.Start+obj.Length-1, obj.Size))
	}
	w.WriteHeader(status)

	n, readErr, writeErr := CopyBody(w, obj.Body)
	if n != obj.Length || readErr != nil || writeErr != nil {
		// The status line is out: the only honest signal left is to cut the connection so
		// the client sees a short body, never a clean end.
		clientGone := writeErr != nil || r.Context().Err() != nil
		if !clientGone {
			h.refund(r, g) // the object store failed us mid-body: nothing usable was delivered
		}
		h.log.Warn("download_interrupted", "request_id", r.Header.Get("X-Request-Id"),
			"sent", n, "want", obj.Length, "client_gone", clientGone, "error", errors.Join(readErr, writeErr))
		panic(http.ErrAbortHandler)
	}
	h.notify(r, r.Method, g, key, status, obj.Size, obj.ETag)
	return nil
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
	info, err := be.Head(r.Context(), key, Conditions(r))
	if err != nil {
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		var nm *objstore.NotModifiedError
		if errors.As(err, &nm) {
			NotModified(w, nm.Info)
			return nil
		}
		return upstream(err)
	}
	hdr := w.Header()
	ObjectHeaders(hdr, &g.Record, info)
	hdr.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	h.notify(r, r.Method, g, key, http.StatusOK, info.Size, info.ETag)
	return nil
}

// Put serves PUT /object/{token}: the request body is streamed to the bucket.
func (h *Handler) Put(w http.ResponseWriter, r *http.Request) error {
	g, be, err := h.access(r, http.MethodPut, r.ContentLength)
	if err != nil {
		return err
	}
	rec := &g.Record
	in := objstore.PutInput{
		Key:         rec.Key,
		Size:        r.ContentLength,
		ContentType: r.Header.Get("Content-Type"),
		Metadata:    rec.Metadata,
		IfNoneMatch: rec.IfNoneMatch,
	}
	if p, ttl, ok := h.redirecting(rec, be); ok && r.ContentLength >= 0 {
		return h.redirectPut(w, r, g, p, ttl)
	}
	if rec.SHA256 != "" {
		in.SHA256, _ = hex.DecodeString(rec.SHA256) // validated when the token was minted
	}
	body := NewLimitedBody(r.Body, rec.Size)
	in.Body = body
	res, err := be.Put(r.Context(), in)
	if err != nil {
		h.refund(r, g)
		switch {
		case body.TooLarge():
			return token.ErrSizeExceeded
		case errors.Is(body.Err(), edge.ErrBodyTimeout):
			// Cut by the gateway, which may also have ended the request's context: the
			// client is still there to read the 408.
			return &BodyError{Err: body.Err()}
		case r.Context().Err() != nil:
			return ErrClientGone
		case body.Err() != nil:
			return &BodyError{Err: body.Err()}
		}
		return upstream(err)
	}
	ctx, cancel := Afterward(r)
	defer cancel()
	if err := h.store.MarkUploaded(ctx, g); err != nil {
		// The object is stored and the hit is spent; only the status flag is missing.
		h.log.Error("mark_uploaded_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
	}
	h.notify(r, r.Method, g, rec.Key, http.StatusOK, res.Size, res.ETag)
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
	if err := be.Delete(r.Context(), g.Record.Key); err != nil {
		h.refund(r, g)
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		return upstream(err)
	}
	h.notify(r, r.Method, g, g.Record.Key, http.StatusNoContent, 0, "")
	setSafetyHeaders(w.Header())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// notify queues the token's webhook, if it has one and the grant says so (a HEAD fires it at
// most once per token.HeadNotifyInterval).
func (h *Handler) notify(r *http.Request, method string, g *token.Grant, key string, status int, size int64, etag string) {
	if g.Record.Callback == "" || h.notifier == nil || !g.Notify {
		return
	}
	ev := AccessEvent(r, h.clientIP(r), method, &g.Record, key, status, size, etag, h.now())
	ctx, cancel := Afterward(r)
	defer cancel()
	if err := h.notifier.Enqueue(ctx, g.Record.Callback, ev); err != nil {
		h.log.Warn("callback_enqueue_failed", "request_id", ev.RequestID, "error", err)
	}
}

// AccessEvent is the asset.access event of request r, from clientIP, to key through a token
// with record rec: method is the token method it stands for (GET, HEAD, PUT, DELETE, LIST),
// status, size and etag what it delivered or stored.
func AccessEvent(r *http.Request, clientIP, method string, rec *token.Record, key string, status int, size int64, etag string, now time.Time) callback.Event {
	return callback.Event{
		Event:     callback.EventAccess,
		Method:    method,
		Status:    status,
		Bucket:    rec.Bucket,
		Key:       key,
		Size:      size,
		ETag:      etag,
		Range:     r.Header.Get("Range"),
		ClientIP:  clientIP,
		UserAgent: r.UserAgent(),
		Referer:   r.Referer(),
		RequestID: r.Header.Get("X-Request-Id"),
		Timestamp: now.Unix(),
	}
}
