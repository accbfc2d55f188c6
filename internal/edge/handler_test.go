package edge

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// uploadHandler reads the whole body and answers 200 with its size, or 408 when the body
// was cut; it reports the read error on errs.
func uploadHandler(errs chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		errs <- err
		switch {
		case errors.Is(err, ErrBodyTimeout):
			w.WriteHeader(http.StatusRequestTimeout)
			fmt.Fprint(w, "cut")
		case err == nil:
			fmt.Fprint(w, n)
		}
	})
}

// dripUpload sends a PUT declaring size bytes over a raw connection, then every interval a
// piece of the body, until the server answers or within passes. It returns the answer, when
// it came, and whether the server closed the connection after it.
func dripUpload(t *testing.T, addr string, size int, piece []byte, interval, within time.Duration) (*http.Response, time.Duration, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "PUT /up HTTP/1.1\r\nHost: edge\r\nContent-Length: %d\r\n\r\n", size)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for sent := 0; sent+len(piece) <= size; sent += len(piece) {
			if _, err := conn.Write(piece); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", within, err)
	}
	took := time.Since(start)
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond)) // a closing server closes at once
	_, err = br.ReadByte()
	closed := err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	return resp, took, closed
}

func TestBodyCut(t *testing.T) {
	t.Parallel()
	const idle = time.Second // an honest client must not stall for this long under -race
	tests := []struct {
		name     string
		piece    int
		interval time.Duration
		want     error         // nil: the body arrives whole
		min, max time.Duration // when the answer may come
	}{
		// 1 KiB then silence: no progress for idle.
		{"stalled", 1 << 10, time.Hour, errBodyStalled, idle, 4 * idle},
		// 20 bytes every 50 ms is 400 B/s, under 2 KB/s, while never idle for long.
		{"dripped", 20, 50 * time.Millisecond, errBodySlow, idle, 4 * idle},
		// 1 KiB every 50 ms is 20 KiB/s, well over: never cut, for 3 windows.
		{"honest", 1 << 10, 50 * time.Millisecond, nil, 2 * idle, 10 * idle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := make(chan error, 1)
			srv := httptest.NewServer(Handler(uploadHandler(errs), Limits{BodyIdle: idle, BodyMinRate: 2000}))
			defer srv.Close()
			size := 60 << 10 // 3 windows for the honest client
			resp, took, closed := dripUpload(t, srv.Listener.Addr().String(), size, make([]byte, tt.piece), tt.interval, 20*idle)
			err := <-errs
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("body read error: got %v, want %v", err, tt.want)
			}
			if took < tt.min || took > tt.max {
				t.Errorf("answered after %s, want between %s and %s", took, tt.min, tt.max)
			}
			if tt.want == nil {
				if resp.StatusCode != 200 || resp.Close || closed {
					t.Errorf("got %d, Connection close %v, closed %v; want 200 on a connection kept open", resp.StatusCode, resp.Close, closed)
				}
				return
			}
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close || !closed {
				t.Errorf("got %d, Connection close %v, closed after %v; want 408, Connection: close, and the connection closed",
					resp.StatusCode, resp.Close, closed)
			}
		})
	}
}

// TestBodyCutTLS: over TLS the cut works the same. On HTTP/2 the deadline is the stream's:
// the answer needs no Connection header and the connection carries on.
func TestBodyCutTLS(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			t.Parallel()
			errs := make(chan error, 2)
			srv := httptest.NewUnstartedServer(Handler(uploadHandler(errs), Limits{BodyIdle: idle, BodyMinRate: 2000}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			hc := srv.Client()

			pr, pw := io.Pipe()
			go func() {
				_, _ = pw.Write(make([]byte, 100)) // then nothing
			}()
			defer pw.Close()
			req, _ := http.NewRequest("PUT", srv.URL+"/up", pr)
			req.ContentLength = 1 << 20
			start := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if err := <-errs; !errors.Is(err, errBodyStalled) {
				t.Errorf("body read error: got %v, want %v", err, errBodyStalled)
			}
			if resp.StatusCode != http.StatusRequestTimeout || string(body) != "cut" || took > 4*idle {
				t.Fatalf("got HTTP/%d %d %q after %s, want 408 within %s", resp.ProtoMajor, resp.StatusCode, body, took, 4*idle)
			}
			if wantMajor := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != wantMajor || resp.Close == h2 {
				t.Errorf("got HTTP/%d with Connection: close %v; want HTTP/%d, closing on HTTP/1 only", resp.ProtoMajor, resp.Close, wantMajor)
			}
			// The next request is served (on the same connection with HTTP/2).
			resp, err = hc.Post(srv.URL+"/up", "text/plain", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			<-errs
			if resp.StatusCode != 200 || string(body) != "5" {
				t.Errorf("next request: got %d %q, want 200 \"5\"", resp.StatusCode, body)
			}
		})
	}
}

// streamHandler writes total bytes in 32 KiB writes and reports how the writing ended.
func streamHandler(total int, done chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(total))
		buf := make([]byte, 32<<10)
		var err error
		for sent := 0; sent < total && err == nil; sent += len(buf) {
			_, err = w.Write(buf)
		}
		done <- err
	})
}

func TestWriteIdleCut(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			t.Parallel()
			done := make(chan error, 1)
			srv := httptest.NewUnstartedServer(Handler(streamHandler(1<<30, done), Limits{WriteIdle: idle}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
				t.Fatal(err)
			}
			// The client stops reading: the writes fill the buffers, block, and fail.
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("the handler wrote 1 GiB to a client that stopped reading")
				}
				t.Logf("HTTP/%d: write failed: %v", resp.ProtoMajor, err)
			case <-time.After(20 * idle):
				t.Fatalf("the handler still writes %s after the client stopped reading", 20*idle)
			}
		})
	}
}
