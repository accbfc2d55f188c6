package s3api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/sigv4"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// Store is what the listener needs from the token store: records found by ID (the access key
// carries the ID, never the token), and the upload sessions of multipart uploads.
type Store interface {
	GetID(ctx context.Context, id string) (token.Record, error)
	AccessID(ctx context.Context, id string, req token.Request) (*token.Grant, error)
	upload.Sessions
}

// Objects are /object's accesses once admitted (package proxy): the listener admits a
// request its own way, then hands the access over, so that hits, refunds, headers, upload
// rules and webhooks are /object's own.
type Objects interface {
	ServeGet(w http.ResponseWriter, r *http.Request, g *token.Grant, be objstore.Backend, key string) error
	ServeHead(w http.ResponseWriter, r *http.Request, g *token.Grant, be objstore.Backend, key string) error
	ServePut(r *http.Request, g *token.Grant, be objstore.Backend, body io.Reader, size int64) (objstore.PutResult, error)
	ServeDelete(r *http.Request, g *token.Grant, be objstore.Backend, key string) error
	Stored(r *http.Request, g *token.Grant, key string, res objstore.PutResult)
	Notify(r *http.Request, method string, g *token.Grant, key string, status int, size int64, etag string)
	Refund(r *http.Request, g *token.Grant)
}

// Metrics records one request; nil: none.
type Metrics interface {
	Request(route, method string, status int, d time.Duration)
	// Bytes counts object bytes: "out", sent by a GetObject; "in", stored by a PutObject or
	// an UploadPart (the decoded body, without aws-chunked framing).
	Bytes(direction string, n int64)
}

// Options configure a Handler.
type Options struct {
	Store   Store
	Objects Objects
	Buckets map[string]objstore.Backend
	Keys    *Keys
	// Region is the region clients sign for (s3api.region).
	Region string
	// Endpoint is the listener's public base URL (s3api.host), for the Location of a
	// completed multipart upload.
	Endpoint string
	// ClientIP returns the client's address after trusted-proxy handling; nil: the TCP peer.
	ClientIP func(*http.Request) string
	Metrics  Metrics
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler is the S3-compatible listener's http.Handler.
type Handler struct {
	store    Store
	objects  Objects
	buckets  map[string]objstore.Backend
	region   string
	endpoint string
	verifier *sigv4.Verifier
	clientIP func(*http.Request) string
	metrics  Metrics
	log      *slog.Logger
	now      func() time.Time
}

// New returns a Handler.
func New(o Options) *Handler {
	h := &Handler{store: o.Store, objects: o.Objects, buckets: o.Buckets, region: o.Region, endpoint: strings.TrimRight(o.Endpoint, "/"), clientIP: o.ClientIP,
		metrics: o.Metrics, log: o.Logger, now: o.Now}
	h.verifier = &sigv4.Verifier{Region: o.Region, Secret: o.Keys.Secret}
	if h.clientIP == nil {
		h.clientIP = peerIP
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// call is one request being served.
type call struct {
	w       *recorder
	r       *http.Request
	reqID   string
	op      op
	auth    *sigv4.Auth
	tokenID string // from the access key ID, once the signature holds
	nonce   string
	err     error    // the cause of a 5xx, for the log
	in      *counter // the object body a PutObject or UploadPart read, for the bytes metric
}

// objectBody is the request's verified body (aws-chunked framing decoded), counted.
func (c *call) objectBody() io.Reader {
	c.in = &counter{r: c.auth.Body(c.r.Body)}
	return c.in
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ServeHTTP serves one S3 request: its signature first (nothing reaches the token store
// before it holds), then its route, then the operation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := &call{w: &recorder{ResponseWriter: w}, r: r, reqID: newRequestID()}
	c.w.Header().Set("X-Amz-Request-Id", c.reqID)
	defer h.finish(c, start)
	if err := h.serve(c); err != nil {
		h.fail(c, err)
	}
}

func (h *Handler) serve(c *call) error {
	auth, err := h.verifier.Verify(c.r)
	if err != nil {
		return err
	}
	c.auth = auth
	c.tokenID, c.nonce, _ = parseAccessKey(auth.AccessKeyID) // Secret accepted it
	// Downstream (proxy's webhooks, its logs) read the request id here; the signature is
	// checked, so changing a header no longer matters.
	c.r.Header.Set("X-Request-Id", c.reqID)
	if c.op, err = route(c.r.Method, c.r.URL.Path, c.r.URL.Query(), c.r.Header); err != nil {
		return err
	}
	switch c.op.kind {
	case opListBuckets, opGetBucketLocation, opHeadBucket:
		return h.bucketOp(c)
	case opListObjectsV2:
		return h.listObjects(c)
	case opGetObject:
		return h.getObject(c)
	case opHeadObject:
		return h.headObject(c)
	case opPutObject:
		return h.putObject(c)
	case opDeleteObject:
		return h.deleteObject(c)
	case opDeleteObjects:
		return h.deleteObjects(c)
	case opCreateMultipartUpload:
		return h.createMultipart(c)
	case opUploadPart:
		return h.uploadPart(c)
	case opCompleteMultipartUpload:
		return h.completeMultipart(c)
	case opAbortMultipartUpload:
		return h.abortMultipart(c)
	case opListParts:
		return h.listParts(c)
	}
	return fmt.Errorf("s3api: operation %v has no handler", c.op.kind)
}

// fail answers err as an S3 error document, unless the client is gone or the status is out
// already: then the connection is cut, never answered twice.
func (h *Handler) fail(c *call, err error) {
	err = translate(err)
	if errors.Is(err, errClientGone) || c.w.status != 0 {
		if c.w.status == 0 {
			c.w.status = statusClientGone
		}
		panic(http.ErrAbortHandler)
	}
	var se *sigv4.Error
	if !errors.As(err, &se) || se.Status >= 500 {
		c.err = err
	}
	c.w.code = sigv4.CodeInternalError
	if se != nil {
		c.w.code = se.Code
	}
	// Headers set for a success that did not happen go; a 416 keeps its Content-Range.
	hdr := c.w.Header()
	for _, k := range []string{"ETag", "Last-Modified", "Accept-Ranges", "Content-Disposition", "Content-Security-Policy"} {
		hdr.Del(k)
		delete(hdr, k) // non-canonical spellings (ETag)
	}
	if se == nil || se.Status != http.StatusRequestedRangeNotSatisfiable {
		hdr.Del("Content-Range")
	}
	sigv4.WriteError(c.w, c.r, err, c.reqID)
}

// statusClientGone is logged (never sent) for requests whose client left, as nginx does.
const statusClientGone = 499

// finish contains a panic and writes the request's log line. It never logs the path's query
// (a presigned URL's signature) or anything of the credentials but the token's log id.
func (h *Handler) finish(c *call, start time.Time) {
	p := recover()
	if p != nil && p != http.ErrAbortHandler {
		h.log.Error("panic", "request_id", c.reqID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if c.w.status == 0 {
			c.err = fmt.Errorf("panic: %v", p)
			sigv4.WriteError(c.w, c.r, errors.New("panic"), c.reqID)
		} else {
			p = http.ErrAbortHandler
		}
	}
	d := time.Since(start)
	route := "s3 " + c.op.kind.String()
	if c.op.kind == 0 {
		route = "s3 unrouted"
	}
	if h.metrics != nil {
		h.metrics.Request(route, c.r.Method, c.w.status, d)
		switch {
		case c.op.kind == opGetObject && (c.w.status == http.StatusOK || c.w.status == http.StatusPartialContent):
			h.metrics.Bytes("out", c.w.bytes)
		case c.in != nil && c.w.status == http.StatusOK:
			h.metrics.Bytes("in", c.in.n)
		}
	}
	level := slog.LevelInfo
	if c.w.status >= 500 || p != nil && c.w.status != statusClientGone {
		level = slog.LevelWarn
	}
	if h.log.Enabled(c.r.Context(), level) {
		attrs := []slog.Attr{slog.String("request_id", c.reqID), slog.String("method", c.r.Method),
			slog.String("route", route), slog.Int("status", c.w.status), slog.Int64("bytes_out", c.w.bytes),
			slog.Duration("duration", d), slog.String("client_ip", h.clientIP(c.r))}
		if c.tokenID != "" {
			attrs = append(attrs, slog.String("token_id", logID(c.tokenID)))
		}
		if c.w.code != "" {
			attrs = append(attrs, slog.String("code", c.w.code))
		}
		if c.err != nil {
			attrs = append(attrs, slog.String("error", c.err.Error()))
		}
		h.log.LogAttrs(c.r.Context(), level, "s3_request", attrs...)
	}
	if p == http.ErrAbortHandler {
		panic(p) // net/http cuts the connection without logging a stack
	}
}

// newRequestID returns 16 random hex digits, as S3's request ids look.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%X", b[:])
}

// recorder notes what a handler wrote, for the log, and keeps the writer's fast paths
// (ReaderFrom: splice and sendfile; Flusher) reachable.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	code   string // the S3 error code answered, if any
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
	}
	w.bytes += n
	return n, err
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
