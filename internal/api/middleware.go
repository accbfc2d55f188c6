package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/assetgateway/assetgateway/internal/metrics"
	"github.com/assetgateway/assetgateway/internal/token"
)

const requestIDHeader = "X-Request-Id"

// saneRequestID reports whether a caller's X-Request-Id may be reused: 1–128 characters of
// A-Za-z0-9 and . _ : - (UUIDs, trace ids). Anything else is replaced by a new UUID.
func saneRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// responseWriter records what a handler wrote, for the access log and the error adapter,
// and keeps the underlying writer's fast paths (ReaderFrom: sendfile; Flusher) reachable.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	code   string // contract error code, when the response is an error
	err    error  // cause of a 5xx, for the log
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
		w.bytes += n
		return n, err
	}
	n, err := rf.ReadFrom(src)
	w.bytes += n
	return n, err
}

func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serve is the outermost layer: request id, panic containment and one access-log line per
// request. Nothing in the line can reveal a token: it carries token.LogID only.
func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(requestIDHeader)
	if !saneRequestID(id) {
		id = uuid.NewString()
		r.Header.Set(requestIDHeader, id) // downstream (proxy, callbacks) read it from here
	}
	w.Header().Set(requestIDHeader, id)
	rw := &responseWriter{ResponseWriter: w}
	var timing *metrics.Timing
	var upload *countingBody
	if a.metrics != nil {
		var ctx context.Context
		ctx, timing = metrics.WithTiming(r.Context())
		r = r.WithContext(ctx)
		if (r.Method == http.MethodPut || r.Method == http.MethodPatch) && r.Body != nil {
			upload = &countingBody{ReadCloser: r.Body}
			r.Body = upload
		}
	}

	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			a.log.Error("panic", "request_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rw.status == 0 {
				writeError(rw, r, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"})
			} else {
				p = http.ErrAbortHandler // the status is out: cut the connection
			}
		}
		d := time.Since(start)
		if a.metrics != nil {
			a.metrics.Request(r.Pattern, r.Method, rw.status, d)
			if strings.HasPrefix(r.Pattern, "GET /object/") && (rw.status == http.StatusOK || rw.status == http.StatusPartialContent) {
				a.metrics.Bytes("out", rw.bytes)
			}
			if upload != nil && (strings.HasPrefix(r.Pattern, "PUT /object/") && rw.status == http.StatusOK ||
				strings.HasPrefix(r.Pattern, "PATCH /tus/") && rw.status == http.StatusNoContent) {
				a.metrics.Bytes("in", upload.n)
			}
		}
		a.logAccess(r, rw, d, timing, p != nil)
		if p == http.ErrAbortHandler {
			panic(p) // net/http aborts the connection without logging a stack
		}
	}()
	a.route(rw, r)
}

// logAccess writes the request's access-log line.
func (a *API) logAccess(r *http.Request, rw *responseWriter, d time.Duration, timing *metrics.Timing, aborted bool) {
	level := slog.LevelInfo
	if rw.status >= 500 || aborted && rw.status != statusClientGone {
		level = slog.LevelWarn // a client that left is no fault of the gateway's
	}
	if !a.log.Enabled(r.Context(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("request_id", r.Header.Get(requestIDHeader)),
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", rw.status),
		slog.Int64("bytes_out", rw.bytes),
		slog.Duration("duration", d),
		slog.String("client_ip", a.clientIP(r)),
	)
	if timing != nil {
		if st := timing.Store(); st > 0 {
			attrs = append(attrs, slog.Duration("store_duration", st))
		}
		if up := timing.Upstream(); up > 0 {
			attrs = append(attrs, slog.Duration("upstream_duration", up))
		}
	}
	if tok := r.PathValue("token"); tok != "" {
		attrs = append(attrs, slog.String("token_id", token.LogID(tok)))
	}
	if r.ContentLength > 0 {
		attrs = append(attrs, slog.Int64("bytes_in", r.ContentLength))
	}
	if rw.code != "" {
		attrs = append(attrs, slog.String("code", rw.code))
	}
	if rw.err != nil {
		attrs = append(attrs, slog.String("error", rw.err.Error()))
	}
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	a.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// countingBody counts the bytes a handler reads from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// ClientIP works out a request's client address, believing X-Forwarded-For only from
// trusted proxies.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a resolver trusting the given CIDRs or single IPs.
func NewClientIP(trusted []string) (*ClientIP, error) {
	c := &ClientIP{}
	for _, s := range trusted {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR or IP", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.trusted = append(c.trusted, p.Masked())
	}
	return c, nil
}

// Trusted reports whether a is one of the trusted proxies.
func (c *ClientIP) Trusted(a netip.Addr) bool { return c.isTrusted(a.Unmap()) }

func (c *ClientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Of returns the client's IP. When the TCP peer is a trusted proxy, X-Forwarded-For is read
// from the right: the first address that is not itself a trusted proxy is the client.
func (c *ClientIP) Of(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if len(c.trusted) == 0 || !c.isTrusted(peer) {
		return peer.String()
	}
	client := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return client.String() // garbage: stop at the last address we could vouch for
			}
			client = a.Unmap()
			if !c.isTrusted(client) {
				return client.String()
			}
		}
	}
	return client.String()
}
