package edge

import (
	"net/http"
	"time"
)

// Limits bound how slowly a client may send a request body or read a response.
type Limits struct {
	// BodyIdle cuts a request body that makes no progress for this long. It is also the
	// window BodyMinRate is averaged over. Zero: off, and BodyMinRate with it.
	BodyIdle time.Duration
	// BodyMinRate is the slowest a request body may arrive, in bytes per second, averaged
	// over each BodyIdle of time spent waiting for it (time the handler spends elsewhere,
	// e.g. waiting for the object store, does not count). Zero: no minimum.
	BodyMinRate int64
	// WriteIdle cuts a response the client stops reading: a write that makes no progress for
	// this long fails, and the handler aborts. Zero: off.
	WriteIdle time.Duration
}

// Handler enforces l around next. Deadlines are set through http.ResponseController, on the
// connection for HTTP/1 and on the stream for HTTP/2. It costs one allocation per request
// (none when l is zero): the request copy, the body reader and the writer share it.
func Handler(next http.Handler, l Limits) http.Handler {
	if l.BodyIdle <= 0 && l.WriteIdle <= 0 {
		return next
	}
	if l.BodyIdle <= 0 {
		l.BodyMinRate = 0
	}
	return &handler{next: next, l: l}
}

type handler struct {
	next http.Handler
	l    Limits
}

// exchange is one request's state; a single allocation.
type exchange struct {
	rc   http.ResponseController
	req  http.Request
	body body
	w    writer
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hasBody := h.l.BodyIdle > 0 && r.Body != nil && r.Body != http.NoBody
	if !hasBody && h.l.WriteIdle <= 0 {
		h.next.ServeHTTP(w, r)
		return
	}
	// Clocks are read as time.Since(base): the monotonic clock alone, half the cost of
	// time.Now.
	base := time.Now()
	x := &exchange{rc: *http.NewResponseController(w)}
	req := r
	if hasBody {
		x.body = body{rc: r.Body, ctl: &x.rc, idle: h.l.BodyIdle, rate: h.l.BodyMinRate, base: base, set: -h.l.BodyIdle}
		x.req = *r // handlers must not modify the request they are given
		x.req.Body = &x.body
		req = &x.req
	}
	// The writer also carries "Connection: close" on the answer to a body it cut.
	x.w = writer{ResponseWriter: w, ctl: &x.rc, idle: h.l.WriteIdle, proto1: r.ProtoMajor == 1, base: base, set: -h.l.WriteIdle}
	if hasBody {
		x.w.body = &x.body
	}
	h.next.ServeHTTP(&x.w, req)
	x.w.touch() // net/http flushes what is still buffered after we return
	if hasBody && r.ProtoMajor == 1 {
		x.body.finish()
	}
}
