package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/edge"
)

// newEdgeFixture is newFixture served behind edge.Handler, as the binary serves it.
func newEdgeFixture(t *testing.T, l edge.Limits) *fixture {
	t.Helper()
	f := newFixture(t)
	f.srv = httptest.NewServer(edge.Handler(f.srv.Config.Handler, l))
	t.Cleanup(f.srv.Close)
	return f
}

// slowRequest sends head, then body in pieces every interval (a stall after the first piece
// when interval is 0), and returns the answer and its body.
func slowRequest(t *testing.T, addr, head string, body []byte, piece int, interval time.Duration) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, head)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for off := 0; off < len(body); off += piece {
			if _, err := conn.Write(body[off:min(off+piece, len(body))]); err != nil || interval == 0 {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(interval):
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection carried on after the answer to a body that was cut")
	}
	return resp, b
}

// TestBodyCutIs408: a PUT or a control POST whose body stalls or drips is answered 408
// request_timeout in the contract's shape, with Connection: close; an upload stores nothing
// and hands its hit back.
func TestBodyCutIs408(t *testing.T) {
	f := newEdgeFixture(t, edge.Limits{BodyIdle: 200 * time.Millisecond, BodyMinRate: 10 << 10})
	addr := f.srv.Listener.Addr().String()
	var puts []string
	put := func(key string) string {
		tok := f.mint(map[string]any{"method": "PUT", "key": key})
		puts = append(puts, tok)
		return tok
	}
	tests := []struct {
		name     string
		head     func() string
		piece    int
		interval time.Duration
	}{
		{"upload stalls", func() string {
			return fmt.Sprintf("PUT /object/%s HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n",
				put("k/stalled.bin"))
		}, 1000, 0},
		{"upload drips", func() string {
			return fmt.Sprintf("PUT /object/%s HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n",
				put("k/dripped.bin"))
		}, 10, 20 * time.Millisecond},
		{"chunked upload drips", func() string {
			return fmt.Sprintf("PUT /object/%s HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n",
				put("k/chunked.bin"))
		}, 10, 20 * time.Millisecond},
		{"control body drips", func() string {
			return "POST /token HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + control +
				"\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
		}, 10, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := tt.head()
			body := []byte(strings.Repeat("x", 4000))
			if strings.Contains(head, "chunked") {
				body = []byte(strings.Repeat("1\r\nx\r\n", 1000))
			}
			resp, b := slowRequest(t, addr, head, body, tt.piece, tt.interval)
			var e struct{ Code, Message, RequestID string }
			_ = json.Unmarshal(b, &struct {
				Code      *string `json:"code"`
				Message   *string `json:"message"`
				RequestID *string `json:"request_id"`
			}{&e.Code, &e.Message, &e.RequestID})
			if resp.StatusCode != http.StatusRequestTimeout || e.Code != "request_timeout" || e.RequestID == "" ||
				e.RequestID != resp.Header.Get("X-Request-Id") || !resp.Close {
				t.Fatalf("got %d %s (Connection: close %v), want 408 request_timeout with the request id, closing", resp.StatusCode, b, resp.Close)
			}
		})
	}
	// Nothing was stored and every hit was handed back: each token uploads once more.
	for _, key := range []string{"k/stalled.bin", "k/dripped.bin", "k/chunked.bin"} {
		get := f.mint(map[string]any{"method": "GET", "key": key})
		expectError(t, f.do("GET", "/object/"+get, nil), http.StatusNotFound, "object_not_found")
	}
	for _, tok := range puts {
		if rec := f.record(tok); rec["used_hits"] != float64(0) {
			t.Errorf("token for %v: used_hits %v after a cut upload, want 0", rec["key"], rec["used_hits"])
		}
	}
}
