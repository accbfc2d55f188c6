package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// capServer serves a hello handler through Limit(o) and returns its address, the listener,
// and the types of the connections net/http was handed.
func capServer(t *testing.T, o ConnLimits) (string, *Listener, func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limit(ln, o)
	var mu sync.Mutex
	var types []string
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				mu.Lock()
				types = append(types, fmt.Sprintf("%T", c))
				mu.Unlock()
			}
			l.ConnState(c, s)
		},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), l, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), types...)
	}
}

// dialFrom opens a connection from local address from (all of 127/8 is loopback on Linux)
// and sends one request on it; it returns the connection, kept open, and the answer's
// status, or 0 with the error when the connection was refused without one.
func dialFrom(t *testing.T, addr, from string) (net.Conn, int, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: edge\r\n\r\n"); err != nil {
		return c, 0, err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, 0, err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	return c, resp.StatusCode, resp.Header.Get("X-Error-Code") + " " + string(body)
}

func TestConnCaps(t *testing.T) {
	trusted := netip.MustParseAddr("127.0.0.9")
	tests := []struct {
		name string
		o    ConnLimits
		// from lists the local address of each connection, opened in order and kept open;
		// want is the status each gets (0: closed without an answer).
		from []string
		want []int
	}{
		{"per client", ConnLimits{PerClient: 2, AnswerHTTP: true},
			[]string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.2"},
			[]int{200, 200, 503, 200, 200, 503}},
		{"total", ConnLimits{Total: 3, AnswerHTTP: true},
			[]string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"},
			[]int{200, 200, 200, 503}},
		{"trusted proxy exempt from per client, not from total", ConnLimits{PerClient: 1, Total: 5, AnswerHTTP: true,
			Exempt: func(a netip.Addr) bool { return a == trusted }},
			[]string{"127.0.0.9", "127.0.0.9", "127.0.0.9", "127.0.0.1", "127.0.0.1", "127.0.0.9", "127.0.0.9"},
			[]int{200, 200, 200, 200, 503, 200, 503}},
		{"closed without an answer (TLS)", ConnLimits{PerClient: 1},
			[]string{"127.0.0.1", "127.0.0.1"},
			[]int{200, 0}},
		{"caps off", ConnLimits{},
			[]string{"127.0.0.1", "127.0.0.1", "127.0.0.1"},
			[]int{200, 200, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, l, types := capServer(t, tt.o)
			var conns []net.Conn
			for i, from := range tt.from {
				start := time.Now()
				c, status, detail := dialFrom(t, addr, from)
				conns = append(conns, c)
				if status != tt.want[i] {
					t.Fatalf("connection %d from %s: got %d (%s), want %d", i, from, status, detail, tt.want[i])
				}
				if status == 503 && !strings.HasPrefix(detail, "too_many_connections {\"code\":\"too_many_connections\"") {
					t.Errorf("connection %d: 503 answer %q, want the contract's too_many_connections", i, detail)
				}
				if took := time.Since(start); status != 200 && took > time.Second {
					t.Errorf("connection %d refused after %s, want at once", i, took)
				}
			}
			for _, typ := range types() {
				if typ != "*net.TCPConn" {
					t.Errorf("net/http was handed a %s, want the *net.TCPConn itself (splice needs it)", typ)
				}
			}
			// Every connection closed is counted out, exactly once.
			for _, c := range conns {
				c.Close()
			}
			if !pollUntil(5*time.Second, func() bool { return l.Open() == 0 }) {
				t.Fatalf("open connections after all closed: got %d, want 0", l.Open())
			}
			c, status, detail := dialFrom(t, addr, tt.from[0])
			if status != 200 {
				t.Errorf("a new connection once the others are closed: got %d (%s), want 200", status, detail)
			}
			c.Close()
			if !pollUntil(5*time.Second, func() bool { return l.Open() == 0 }) {
				t.Fatalf("open connections after all closed: got %d, want 0", l.Open())
			}
			perClient, total := l.Refused()
			wantRefused := 0
			for _, w := range tt.want {
				if w != 200 {
					wantRefused++
				}
			}
			if int(perClient+total) != wantRefused {
				t.Errorf("refused: got %d per client + %d total, want %d in all", perClient, total, wantRefused)
			}
		})
	}
}

// TestConnCapsHijack: a hijacked connection is counted out when net/http hands it over, and
// not again when the handler closes it.
func TestConnCapsHijack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Limit(ln, ConnLimits{PerClient: 1})
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			c.Close()
		}),
		ConnState:         l.ConnState,
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	for i := range 3 {
		if _, status, detail := dialFrom(t, ln.Addr().String(), "127.0.0.1"); status != 200 {
			t.Fatalf("request %d: got %d (%s), want 200", i, status, detail)
		}
		if !pollUntil(5*time.Second, func() bool { return l.Open() == 0 }) {
			t.Fatalf("after request %d: %d open, want 0", i, l.Open())
		}
	}
}

func TestClientPrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		if got := ClientPrefix(netip.MustParseAddr(tt.in)).String(); got != tt.want {
			t.Errorf("ClientPrefix(%s): got %s, want %s", tt.in, got, tt.want)
		}
	}
}

// pollUntil polls cond every 10 ms until it holds (true) or within passes (false).
func pollUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
