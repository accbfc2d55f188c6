package edge

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// deadlineWriter is a ResponseWriter whose deadlines go to a real TCP connection, as
// net/http's do (a runtime timer update, no syscall). Writes are discarded.
type deadlineWriter struct {
	hdr  http.Header
	conn net.Conn
}

func (d *deadlineWriter) Header() http.Header                   { return d.hdr }
func (d *deadlineWriter) Write(p []byte) (int, error)           { return len(p), nil }
func (d *deadlineWriter) WriteHeader(int)                       {}
func (d *deadlineWriter) SetReadDeadline(t time.Time) error     { return d.conn.SetReadDeadline(t) }
func (d *deadlineWriter) SetWriteDeadline(t time.Time) error    { return d.conn.SetWriteDeadline(t) }
func (d *deadlineWriter) ReadFrom(src io.Reader) (int64, error) { return io.Copy(io.Discard, src) }

// hotPath is the per-request work the wrappers see on the two common requests: a small GET
// (status, headers, one write) and a 64 KiB PUT (the body read through io.Copy).
func hotPath(payload []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(payload)
	})
}

// benchRequests returns a GET and a PUT whose body is reset by reset.
func benchRequests() (get, put *http.Request, reset func()) {
	get = httptest.NewRequest(http.MethodGet, "/object/tok", nil)
	body := bytes.NewReader(make([]byte, 64<<10))
	// Read by Read, as a server's request body is (no WriterTo to skip the copy).
	put = httptest.NewRequest(http.MethodPut, "/object/tok", io.NopCloser(struct{ io.Reader }{body}))
	return get, put, func() { body.Seek(0, io.SeekStart) }
}

func deadlineConn(tb testing.TB) net.Conn {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

var defaultLimits = Limits{BodyIdle: 30 * time.Second, BodyMinRate: 1 << 10, WriteIdle: 60 * time.Second}

// BenchmarkHandler measures what Handler adds to a request: compare "edge" with "bare".
func BenchmarkHandler(b *testing.B) {
	w := &deadlineWriter{hdr: http.Header{}, conn: deadlineConn(b)}
	get, put, reset := benchRequests()
	payload := make([]byte, 1<<10)
	for _, wrapped := range []bool{false, true} {
		h := hotPath(payload)
		name := "bare"
		if wrapped {
			h, name = Handler(h, defaultLimits), "edge"
		}
		for _, r := range []*http.Request{get, put} {
			b.Run(r.Method+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					reset()
					h.ServeHTTP(w, r)
				}
			})
		}
	}
}

// TestHandlerAllocs keeps the cost in allocations at one per request.
func TestHandlerAllocs(t *testing.T) {
	w := &deadlineWriter{hdr: http.Header{}, conn: deadlineConn(t)}
	get, put, reset := benchRequests()
	payload := make([]byte, 1<<10)
	bare, wrapped := hotPath(payload), Handler(hotPath(payload), defaultLimits)
	for _, r := range []*http.Request{get, put} {
		base := testing.AllocsPerRun(100, func() { reset(); bare.ServeHTTP(w, r) })
		with := testing.AllocsPerRun(100, func() { reset(); wrapped.ServeHTTP(w, r) })
		if with-base > 1 {
			t.Errorf("%s: %v allocations with Handler, %v without: want at most 1 more", r.Method, with, base)
		}
	}
}

// BenchmarkSplice downloads 64 MiB through a real server, from a TCP source as the S3 fast
// path does: net/http splices either way; "sliced" is through Handler's writer (256 KiB
// slices), "whole" hands the source to net/http in one piece.
func BenchmarkSplice(b *testing.B) {
	const size = 64 << 20
	for _, sliced := range []bool{false, true} {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(size))
			_, _ = io.Copy(w, &io.LimitedReader{R: tcpSource(b, size), N: size})
		})
		name := "whole"
		if sliced {
			h, name = Handler(h, Limits{WriteIdle: time.Minute}), "sliced"
		}
		b.Run(name, func(b *testing.B) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			b.SetBytes(size)
			for b.Loop() {
				resp, err := http.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("got %d bytes, %v", n, err)
				}
			}
		})
	}
}
