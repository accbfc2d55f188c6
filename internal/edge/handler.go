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
// connection for HTTP/1 and on the stream for HTTP/2, and pushed back at most every 1/16 of
// their timeout. It costs one allocation per request (none when l is zero) and, on HTTP/1,
// one deadline update per direction used; BenchmarkHandler measures it.
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

// exchange is one request's state.
type exchange struct {
	rc http.ResponseController
	w  writer
}

// upload is the state of a request with a body: the exchange, the request handed on, and its
// body. Still one allocation.
type upload struct {
	exchange
	req  http.Request
	body body
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hasBody := h.l.BodyIdle > 0 && r.Body != nil && r.Body != http.NoBody
	if !hasBody && h.l.WriteIdle <= 0 {
		h.next.ServeHTTP(w, r)
		return
	}
	var x *exchange
	var u *upload
	if hasBody {
		u = &upload{}
		x = &u.exchange
	} else {
		x = &exchange{}
	}
	x.rc = *http.NewResponseController(w)
	// The writer also carries "Connection: close" on the answer to a body that was cut.
	x.w = writer{ResponseWriter: w, ctl: &x.rc, idle: h.l.WriteIdle, set: -h.l.WriteIdle, proto1: r.ProtoMajor == 1}
	req := r
	if hasBody {
		u.body = body{rc: r.Body, ctl: &x.rc, idle: h.l.BodyIdle, set: -h.l.BodyIdle, rate: h.l.BodyMinRate}
		u.req = *r // handlers must not modify the request they are given
		u.req.Body = &u.body
		req = &u.req
		x.w.body = &u.body
	}
	h.next.ServeHTTP(&x.w, req)
	x.w.touch() // net/http flushes what is still buffered after we return
	if hasBody && r.ProtoMajor == 1 {
		u.body.finish()
	}
}
