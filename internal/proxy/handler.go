package proxy

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/edge"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Store is what /object needs from the token store.
type Store interface {
	Access(ctx context.Context, tok, method string, contentLength int64) (*token.Grant, error)
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
	Buckets map[string]Backend
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
	buckets  map[string]Backend
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

func afterward(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), afterwardTimeout)
}

// access checks the token and reserves a hit.
func (h *Handler) access(r *http.Request, method string, contentLength int64) (*token.Grant, Backend, error) {
	tok := r.PathValue("token")
	if !token.WellFormed(tok) {
		return nil, nil, token.ErrNotFound // indistinguishable from an unknown token
	}
	g, err := h.store.Access(r.Context(), tok, method, contentLength)
	if err != nil {
		return nil, nil, err
	}
	if len(g.Record.IPs) > 0 && !ipAllowed(h.clientIP(r), g.Record.IPs) {
		h.refund(r, g)
		return nil, nil, ErrForbidden
	}
	be := h.buckets[g.Record.Bucket]
	if be == nil {
		h.refund(r, g)
		return nil, nil, fmt.Errorf("%w: bucket alias %q is not configured", ErrUpstream, g.Record.Bucket)
	}
	return g, be, nil
}

// ipAllowed reports whether ip is in one of the CIDRs.
func ipAllowed(ip string, cidrs []string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// mediaAllowed reports whether an upload's Content-Type (parameters aside) is one of the
// allowed media types or ranges ("image/*").
func mediaAllowed(contentType string, allowed []string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	for _, a := range allowed {
		a = strings.ToLower(a)
		if a == mt || strings.HasSuffix(a, "/*") && strings.HasPrefix(mt, a[:len(a)-1]) {
			return true
		}
	}
	return false
}

// refund hands a hit back; a failure is logged (the hit stays consumed: fail closed).
func (h *Handler) refund(r *http.Request, g *token.Grant) {
	if !g.Consumed {
		return
	}
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.store.Refund(ctx, g); err != nil {
		h.log.Warn("refund_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
	}
}

// upstream wraps a backend failure for the error writer, keeping the contract's sentinels.
func upstream(err error) error {
	for _, known := range []error{ErrObjectNotFound, ErrRangeNotSatisfiable, ErrPreconditionFailed, ErrNotModified, ErrChecksumMismatch} {
		if errors.Is(err, known) {
			return err
		}
	}
	if errors.Is(err, ErrInvalidKey) { // a key a directory cannot hold cannot exist there
		return fmt.Errorf("%w: %w", ErrObjectNotFound, err)
	}
	return fmt.Errorf("%w: %w", ErrUpstream, err)
}

// conditions reads a request's preconditions. Unparseable dates are ignored, as RFC 9110
// asks.
func conditions(r *http.Request) Conditions {
	c := Conditions{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
	if v := r.Header.Get("If-Modified-Since"); v != "" {
		c.IfModifiedSince, _ = http.ParseTime(v)
	}
	if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		c.IfUnmodifiedSince, _ = http.ParseTime(v)
	}
	return c
}

// ifRangeHolds reports whether an If-Range validator still describes the object: an entity
// tag by strong comparison, or exactly its Last-Modified date (RFC 9110 §13.1.5).
func ifRangeHolds(v string, info ObjectInfo) bool {
	if strings.HasPrefix(v, "W/") {
		return false // a weak tag never validates a range
	}
	if strings.HasPrefix(v, `"`) {
		return info.ETag != "" && v == `"`+info.ETag+`"`
	}
	t, err := http.ParseTime(v)
	return err == nil && !info.LastModified.IsZero() && info.LastModified.Truncate(time.Second).Equal(t)
}

// notModified answers 304 with the validators and caching headers a 200 would have carried.
func notModified(w http.ResponseWriter, info ObjectInfo) {
	hdr := w.Header()
	if info.ETag != "" {
		hdr["ETag"] = []string{`"` + info.ETag + `"`}
	}
	if !info.LastModified.IsZero() {
		hdr.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	}
	setSafetyHeaders(hdr)
	w.WriteHeader(http.StatusNotModified)
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
			return ErrObjectNotFound // a listing has no objects below it
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
	opts := GetOptions{Range: ParseRange(r.Header.Get("Range")), Conditions: conditions(r)}
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
		var nm *NotModifiedError
		if errors.As(err, &nm) {
			notModified(w, nm.Info)
			return nil
		}
		var re *RangeError
		if errors.As(err, &re) && re.Size >= 0 {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(re.Size, 10))
		}
		return upstream(err)
	}
	defer obj.Body.Close()

	hdr := w.Header()
	setObjectHeaders(hdr, &g.Record, obj.ObjectInfo)
	hdr.Set("Content-Length", strconv.FormatInt(obj.Length, 10))
	status := http.StatusOK
	if obj.Partial {
		status = http.StatusPartialContent
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", obj.Start, obj.Start+obj.Length-1, obj.Size))
	}
	w.WriteHeader(status)

	n, readErr, writeErr := copyBody(w, obj.Body)
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
	h.notify(r, r.Method, &g.Record, key, status, obj.Size, obj.ETag)
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
			return ErrObjectNotFound
		}
		return h.list(w, r, g, be) // a HEAD of the listing: net/http sends no body
	}
	key, err := objectKey(r, &g.Record)
	if err != nil {
		return err
	}
	info, err := be.Head(r.Context(), key, conditions(r))
	if err != nil {
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		var nm *NotModifiedError
		if errors.As(err, &nm) {
			notModified(w, nm.Info)
			return nil
		}
		return upstream(err)
	}
	hdr := w.Header()
	setObjectHeaders(hdr, &g.Record, info)
	hdr.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	h.notify(r, r.Method, &g.Record, key, http.StatusOK, info.Size, info.ETag)
	return nil
}

// Put serves PUT /object/{token}: the request body is streamed to the bucket.
func (h *Handler) Put(w http.ResponseWriter, r *http.Request) error {
	g, be, err := h.access(r, http.MethodPut, r.ContentLength)
	if err != nil {
		return err
	}
	rec := &g.Record
	in := PutInput{
		Key:         rec.Key,
		Size:        r.ContentLength,
		ContentType: r.Header.Get("Content-Type"),
		Metadata:    rec.Metadata,
		IfNoneMatch: rec.IfNoneMatch,
	}
	if len(rec.ContentTypes) > 0 && !mediaAllowed(in.ContentType, rec.ContentTypes) {
		h.refund(r, g)
		return ErrUnsupportedMediaType
	}
	if p, ttl, ok := h.redirecting(rec, be); ok && r.ContentLength >= 0 {
		return h.redirectPut(w, r, g, p, ttl)
	}
	if rec.SHA256 != "" {
		in.SHA256, _ = hex.DecodeString(rec.SHA256) // validated when the token was minted
	}
	body := &limitedBody{r: r.Body, limit: rec.Size}
	in.Body = body
	res, err := be.Put(r.Context(), in)
	if err != nil {
		h.refund(r, g)
		switch {
		case body.tooLarge:
			return token.ErrSizeExceeded
		case errors.Is(body.err, edge.ErrBodyTimeout):
			// Cut by the gateway, which may also have ended the request's context: the
			// client is still there to read the 408.
			return &BodyError{Err: body.err}
		case r.Context().Err() != nil:
			return ErrClientGone
		case body.err != nil:
			return &BodyError{Err: body.err}
		}
		return upstream(err)
	}
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.store.MarkUploaded(ctx, g); err != nil {
		// The object is stored and the hit is spent; only the status flag is missing.
		h.log.Error("mark_uploaded_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
	}
	h.notify(r, r.Method, &g.Record, rec.Key, http.StatusOK, res.Size, res.ETag)
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
	h.notify(r, r.Method, &g.Record, g.Record.Key, http.StatusNoContent, 0, "")
	setSafetyHeaders(w.Header())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// defaultPresignTTL is how long a presigned URL lives when the alias says nothing.
const defaultPresignTTL = 30 * time.Second

// redirecting tells whether an access is answered with a redirect to a presigned URL: the
// token asks for it, or leaves it to an alias that redirects by default, and the store can
// presign. Uploads that the gateway must check as they stream (sha256, metadata,
// if_none_match) always stream.
func (h *Handler) redirecting(rec *token.Record, be Backend) (Presigner, time.Duration, bool) {
	pol := h.redirect[rec.Bucket]
	switch {
	case rec.Delivery == token.DeliveryStream, rec.Delivery == "" && !pol.Default:
		return nil, 0, false
	case rec.Method == token.MethodPut && (rec.SHA256 != "" || len(rec.Metadata) > 0 || rec.IfNoneMatch):
		return nil, 0, false
	}
	p, ok := presignerOf(be)
	if !ok {
		return nil, 0, false
	}
	ttl := pol.TTL
	if ttl <= 0 {
		ttl = defaultPresignTTL
	}
	return p, ttl, true
}

// redirectGet answers a GET with 307 to a presigned URL that carries the token's file name
// and caching headers: the hit is spent, and the gateway moves no object bytes.
func (h *Handler) redirectGet(w http.ResponseWriter, r *http.Request, g *token.Grant, p Presigner, ttl time.Duration, key string) error {
	rec := &g.Record
	o := ResponseOverrides{CacheControl: rec.CacheControl}
	switch {
	case rec.Filename != "":
		disposition := rec.Disposition
		if disposition == "" {
			disposition = "attachment"
		}
		o.ContentDisposition = ContentDisposition(disposition, rec.Filename)
	case rec.Disposition != "":
		o.ContentDisposition = rec.Disposition
	}
	u, err := p.PresignGet(r.Context(), key, ttl, o)
	if err != nil {
		h.refund(r, g)
		return upstream(err)
	}
	h.notify(r, r.Method, rec, key, http.StatusTemporaryRedirect, 0, "")
	redirect(w, u)
	return nil
}

// redirectPut answers a PUT of known length with 307 to a presigned PUT URL that only
// accepts that length and Content-Type. The hit is spent when the URL is handed out (the
// gateway does not see the upload finish: /status reads object_exists from the bucket).
func (h *Handler) redirectPut(w http.ResponseWriter, r *http.Request, g *token.Grant, p Presigner, ttl time.Duration) error {
	rec := &g.Record
	u, _, err := p.PresignPut(r.Context(), rec.Key, ttl, r.ContentLength, r.Header.Get("Content-Type"))
	if err != nil {
		h.refund(r, g)
		return upstream(err)
	}
	h.notify(r, r.Method, rec, rec.Key, http.StatusTemporaryRedirect, r.ContentLength, "")
	redirect(w, u)
	return nil
}

func redirect(w http.ResponseWriter, u string) {
	hdr := w.Header()
	hdr.Set("Location", u)
	setSafetyHeaders(hdr)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// BelowToken reports whether r was routed to /object/{token}/{rest...}: a path below the
// token, even with nothing after the slash.
func BelowToken(r *http.Request) bool {
	return strings.Contains(r.Pattern, "{rest...}")
}

// ErrBadPath means the object path after a prefix token is not acceptable (400).
var ErrBadPath = errors.New("invalid object path")

// objectKey names the object a request is for: the token's key, or — for a prefix token —
// its prefix followed by the path after the token (/object/{token}/{rest...}). That path
// must be clean: no empty, "." or ".." segments, no encoded slash (%2F: a key's slashes are
// written as slashes), no control characters, and prefix+path at most 1024 bytes.
func objectKey(r *http.Request, rec *token.Record) (string, error) {
	rest := r.PathValue("rest")
	if rec.Prefix == "" {
		if BelowToken(r) {
			return "", ErrObjectNotFound // a key token has nothing below it
		}
		return rec.Key, nil
	}
	if rest == "" {
		return "", ErrObjectNotFound // a prefix names no object by itself
	}
	if strings.Contains(strings.ToLower(r.URL.EscapedPath()), "%2f") {
		return "", fmt.Errorf("%w: encoded slashes are not allowed", ErrBadPath)
	}
	key := rec.Prefix + rest
	if len(key) > 1024 || !utf8.ValidString(rest) {
		return "", ErrBadPath
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", ErrBadPath
		}
	}
	for _, c := range rest {
		if unicode.IsControl(c) {
			return "", ErrBadPath
		}
	}
	return key, nil
}

// maxListed caps one listing page.
const maxListed = 1000

// list serves a LIST token: GET /object/{token}?after=KEY&limit=N returns the objects under
// the token's prefix, keys relative to it, in key order, one page at a time.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, g *token.Grant, be Backend) error {
	q := r.URL.Query()
	limit := maxListed
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListed {
			h.refund(r, g)
			return fmt.Errorf("%w: limit must be 1 to %d", ErrBadPath, maxListed)
		}
		limit = n
	}
	page, err := be.List(r.Context(), g.Record.Prefix, q.Get("after"), limit)
	if err != nil {
		h.refund(r, g)
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		return upstream(err)
	}
	type entry struct {
		Key          string `json:"key"`
		Size         int64  `json:"size"`
		ETag         string `json:"etag"`
		LastModified string `json:"last_modified"`
	}
	out := struct {
		Objects   []entry `json:"objects"`
		Truncated bool    `json:"truncated"`
		NextAfter string  `json:"next_after,omitempty"`
	}{Objects: make([]entry, 0, len(page.Entries)), Truncated: page.Truncated}
	for _, e := range page.Entries {
		out.Objects = append(out.Objects, entry{Key: strings.TrimPrefix(e.Key, g.Record.Prefix), Size: e.Size,
			ETag: e.ETag, LastModified: e.LastModified.UTC().Format(time.RFC3339)})
	}
	if page.Truncated && len(out.Objects) > 0 {
		out.NextAfter = out.Objects[len(out.Objects)-1].Key
	}
	body, _ := json.Marshal(out)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	setSafetyHeaders(hdr)
	method := token.MethodList
	if r.Method == http.MethodHead {
		method = http.MethodHead
	}
	h.notify(r, method, &g.Record, g.Record.Prefix, http.StatusOK, 0, "")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

// notify queues the token's webhook, if it has one.
func (h *Handler) notify(r *http.Request, method string, rec *token.Record, key string, status int, size int64, etag string) {
	if rec.Callback == "" || h.notifier == nil {
		return
	}
	ev := callback.Event{
		Event:     callback.EventAccess,
		Method:    method,
		Status:    status,
		Bucket:    rec.Bucket,
		Key:       key,
		Size:      size,
		ETag:      etag,
		Range:     r.Header.Get("Range"),
		ClientIP:  h.clientIP(r),
		UserAgent: r.UserAgent(),
		Referer:   r.Referer(),
		RequestID: r.Header.Get("X-Request-Id"),
		Timestamp: h.now().Unix(),
	}
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.notifier.Enqueue(ctx, rec.Callback, ev); err != nil {
		h.log.Warn("callback_enqueue_failed", "request_id", ev.RequestID, "error", err)
	}
}

// setObjectHeaders sets the headers GET and HEAD share.
func setObjectHeaders(hdr http.Header, rec *token.Record, info ObjectInfo) {
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("Accept-Ranges", "bytes")
	if info.ETag != "" {
		// Spelled as S3 and the seed spell it; Header.Set would canonicalize it to "Etag".
		hdr["ETag"] = []string{`"` + info.ETag + `"`}
	}
	if !info.LastModified.IsZero() {
		hdr.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	}
	disposition := rec.Disposition
	if disposition == "" {
		disposition = "attachment"
	}
	switch {
	case rec.Filename != "":
		hdr.Set("Content-Disposition", ContentDisposition(disposition, rec.Filename))
	case rec.Disposition != "":
		hdr.Set("Content-Disposition", rec.Disposition)
	}
	setSafetyHeaders(hdr)
	if rec.CacheControl != "" {
		hdr.Set("Cache-Control", rec.CacheControl) // the minting backend's decision
	}
}

// setSafetyHeaders sets what every object response carries: every access is counted, so no
// shared cache may answer for the gateway; the URL is the credential, so it must not leak
// through Referer; and browsers must not sniff a type the store did not declare.
func setSafetyHeaders(hdr http.Header) {
	hdr.Set("Cache-Control", "private, no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
}

// copyBufSize is the size of the pooled buffers object bodies are copied through.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyBody streams src to w and tells read failures (the object store) from write failures
// (the client). A body that can write itself (a local file: sendfile) does so.
func copyBody(w io.Writer, src io.Reader) (n int64, readErr, writeErr error) {
	if wt, ok := src.(io.WriterTo); ok {
		cw := &errWriter{w: w}
		n, err := wt.WriteTo(cw)
		if cw.err != nil {
			return n, nil, cw.err
		}
		return n, err, nil
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, nil, werr
			}
		}
		if rerr == io.EOF {
			return n, nil, nil
		}
		if rerr != nil {
			return n, rerr, nil
		}
	}
}

// errWriter remembers the first write error, so a WriterTo's error can be attributed.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// ReadFrom keeps the destination's zero-copy path (sendfile) reachable through the wrapper.
func (e *errWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := e.w.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{e}, src)
	}
	n, err := rf.ReadFrom(src)
	if err != nil && e.err == nil {
		// ReadFrom cannot say which side failed; a failing local file read is rare enough
		// to count as the client's.
		e.err = err
	}
	return n, err
}

// limitedBody passes an upload body through, failing once more than limit bytes arrive
// (limit -1: no limit), and remembers why it failed.
type limitedBody struct {
	r        io.Reader
	limit    int64
	n        int64
	tooLarge bool
	err      error // the underlying read error, if any
}

// errTooLarge is what limitedBody returns past the limit.
var errTooLarge = errors.New("upload exceeds the token's size limit")

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, errTooLarge
	}
	if b.limit >= 0 && int64(len(p)) > b.limit-b.n+1 {
		p = p[:b.limit-b.n+1] // read at most one byte past the limit
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.limit >= 0 && b.n > b.limit {
		b.tooLarge = true
		return n - int(b.n-b.limit), errTooLarge
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}
