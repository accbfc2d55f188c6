package edge

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// sliceSize is how much of a body ReadFrom hands the server at once (splice or sendfile on
// HTTP/1 without TLS). The write deadline is pushed back before each slice, so a client must
// take a slice per WriteIdle to count as reading: 256 KiB per 60 s is 4.3 KiB/s. Slices
// cost a few syscalls each: BenchmarkSplice measures no difference from handing net/http the
// whole body (0.8–1 GB/s either way on a 2-core VM).
const sliceSize = 256 << 10

// writer is a ResponseWriter whose writes push the write deadline back, and which marks the
// answer to a body it cut with "Connection: close".
type writer struct {
	http.ResponseWriter
	ctl    *http.ResponseController
	idle   time.Duration // 0: no write deadline
	proto1 bool
	body   *body // nil without a request body

	base   time.Time     // the first touch; times below are since then
	set    time.Duration // when the write deadline was last pushed back
	header bool          // the status line is out (or about to be)
	slice  io.LimitedReader
}

// touch pushes the write deadline back to at least now+idle, at most every idle/16 (see
// body.extend).
func (w *writer) touch() {
	if w.idle <= 0 {
		return
	}
	var now time.Duration // since w.base, set at the first touch: one wall-clock read a request
	if w.base.IsZero() {
		w.base = time.Now()
	} else {
		now = time.Since(w.base)
	}
	if now-w.set < w.idle/16 {
		return
	}
	w.set = now
	_ = w.ctl.SetWriteDeadline(w.base.Add(now + w.idle + w.idle/16))
}

// beforeHeader runs before anything that may send the status line.
func (w *writer) beforeHeader() {
	if w.header {
		return
	}
	w.header = true
	if w.proto1 && w.body != nil && w.body.cut.Load() {
		// The rest of the body will never be read: the connection cannot carry another
		// request. (On HTTP/2 the stream is simply over.)
		w.Header().Set("Connection", "close")
	}
}

// WriteHeader writes nothing to the connection for a final status (the header goes out with
// the first write or at the end), so only an informational one pushes the deadline back.
func (w *writer) WriteHeader(code int) {
	if code >= 200 {
		w.beforeHeader()
	} else {
		w.touch()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	w.beforeHeader()
	w.touch()
	return w.ResponseWriter.Write(p)
}

func (w *writer) Flush() {
	w.beforeHeader()
	w.touch()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ReadFrom hands src to the server's ReadFrom in slices of at most sliceSize, pushing the
// write deadline back before each. Each slice is an *io.LimitedReader over src itself (or,
// when src is an *io.LimitedReader, over the reader it limits), which is the shape net/http's
// ReadFrom and the kernel's splice and sendfile paths look for.
func (w *writer) ReadFrom(src io.Reader) (int64, error) {
	w.beforeHeader()
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		return io.CopyBuffer(writerOnly{w}, src, *bp) // HTTP/2: each Write pushes back
	}
	if w.idle <= 0 {
		return rf.ReadFrom(src)
	}
	outer, limited := src.(*io.LimitedReader)
	var total int64
	for {
		w.touch()
		n := int64(sliceSize)
		if limited {
			if outer.N <= 0 {
				return total, nil
			}
			n = min(n, outer.N)
			w.slice = io.LimitedReader{R: outer.R, N: n}
		} else {
			w.slice = io.LimitedReader{R: src, N: n}
		}
		m, err := rf.ReadFrom(&w.slice)
		total += m
		if limited {
			outer.N -= m
		}
		if err != nil || m < n {
			return total, err // m < n: src is at its end
		}
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides ReadFrom, so that io.CopyBuffer does not call it back.
type writerOnly struct{ io.Writer }

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
