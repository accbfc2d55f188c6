package edge

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// recordingWriter records what its ReadFrom is handed.
type recordingWriter struct {
	hdr       http.Header
	slices    []*io.LimitedReader
	sources   []io.Reader // each slice's R, as it was when handed over
	deadlines int
}

func (r *recordingWriter) Header() http.Header         { return r.hdr }
func (r *recordingWriter) Write(p []byte) (int, error) { return len(p), nil }
func (r *recordingWriter) WriteHeader(int)             {}
func (r *recordingWriter) SetWriteDeadline(time.Time) error {
	r.deadlines++
	return nil
}

func (r *recordingWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok {
		return 0, fmt.Errorf("ReadFrom got a %T, want an *io.LimitedReader", src)
	}
	r.slices = append(r.slices, &io.LimitedReader{N: lr.N})
	r.sources = append(r.sources, lr.R)
	return io.Copy(io.Discard, src)
}

// tcpSource returns the client end of a TCP connection whose server end writes n bytes and
// closes.
func tcpSource(t testing.TB, n int64) *net.TCPConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.CopyN(c, zeros{}, n)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestReadFromKeepsTheSource: the server's ReadFrom is handed *io.LimitedReader slices over
// the very reader the handler passed (or the one its *io.LimitedReader limits): the shapes
// net/http and the kernel's splice and sendfile paths recognise.
func TestReadFromKeepsTheSource(t *testing.T) {
	file := filepath.Join(t.TempDir(), "object")
	if err := os.WriteFile(file, make([]byte, 600<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		src   func(t *testing.T) (handed io.Reader, under io.Reader)
		total int64
	}{
		{"limited TCP connection", func(t *testing.T) (io.Reader, io.Reader) {
			c := tcpSource(t, 2<<20)
			return &io.LimitedReader{R: c, N: 1<<20 + 123}, c
		}, 1<<20 + 123},
		{"TCP connection to its end", func(t *testing.T) (io.Reader, io.Reader) {
			c := tcpSource(t, 700<<10)
			return c, c
		}, 700 << 10},
		{"file (sendfile)", func(t *testing.T) (io.Reader, io.Reader) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f, f
		}, 600 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingWriter{hdr: http.Header{}}
			w := &writer{ResponseWriter: rec, ctl: http.NewResponseController(rec), idle: time.Minute, set: -time.Minute}
			handed, under := tt.src(t)
			n, err := w.ReadFrom(handed)
			if err != nil || n != tt.total {
				t.Fatalf("ReadFrom: got %d, %v, want %d, nil", n, err, tt.total)
			}
			for i, s := range rec.slices {
				if rec.sources[i] != under || s.N > sliceSize || s.N <= 0 {
					t.Errorf("slice %d: got a %T of %d bytes, want the source itself, at most %d bytes", i, rec.sources[i], s.N, sliceSize)
				}
			}
			if want := int((tt.total + sliceSize) / sliceSize); len(rec.slices) != want {
				t.Errorf("slices: got %d, want %d", len(rec.slices), want)
			}
			if lr, ok := handed.(*io.LimitedReader); ok && lr.N != 0 {
				t.Errorf("the handed *io.LimitedReader has N %d left, want 0", lr.N)
			}
			if rec.deadlines == 0 {
				t.Error("no write deadline was set")
			}
		})
	}
}

// TestReadFromIdle: through a real server (HTTP/1, where net/http splices), a download read
// steadily for many times WriteIdle is never cut; one the client stops reading is.
func TestReadFromIdle(t *testing.T) {
	t.Parallel()
	const idle = time.Second // the steady reader must finish a slice per idle under -race too
	const size = 16 << 20
	tests := []struct {
		name    string
		stopAt  int64 // the client stops reading after this many bytes; 0: never
		wantCut bool
	}{
		{"steady reader", 0, false},
		{"stopped reader", 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan error, 1)
			srv := httptest.NewServer(Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(size))
				_, err := io.Copy(w, &io.LimitedReader{R: tcpSource(t, size), N: size})
				done <- err
			}), Limits{WriteIdle: idle}))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			start := time.Now()
			var got int64
			buf := make([]byte, 64<<10)
			for got < size && (tt.stopAt == 0 || got < tt.stopAt) {
				n, err := io.ReadFull(resp.Body, buf)
				got += int64(n)
				if err != nil {
					break
				}
				time.Sleep(10 * time.Millisecond) // 6.4 MB/s: a slice every 40 ms
			}
			select {
			case err := <-done:
				if cut := err != nil; cut != tt.wantCut {
					t.Fatalf("copy error %v after %s (%d bytes read), want cut %v", err, time.Since(start), got, tt.wantCut)
				}
				if tt.wantCut && !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("copy error: got %v, want a deadline", err)
				}
			case <-time.After(20 * idle):
				t.Fatalf("the copy still runs %s after the client stopped reading", 20*idle)
			}
			if !tt.wantCut && got != size {
				t.Errorf("read %d bytes, want %d", got, size)
			}
			t.Logf("%d MiB read in %s", got>>20, time.Since(start).Round(time.Millisecond))
		})
	}
}
