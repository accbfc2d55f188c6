package edge

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimits caps open connections.
type ConnLimits struct {
	// PerClient caps the open connections of one client: an IPv4 address, or an IPv6 /64
	// (one client usually holds a whole /64). Zero: no cap.
	PerClient int
	// Total caps all open connections. Zero: no cap.
	Total int
	// Exempt reports the addresses PerClient does not apply to: reverse proxies in front of
	// the gateway, which carry many clients. They count toward Total. Nil: none.
	Exempt func(netip.Addr) bool
	// AnswerHTTP writes a 503 too_many_connections answer to a refused connection before
	// closing it. Only for plain HTTP listeners: a TLS client would not understand it.
	AnswerHTTP bool
	// Logger gets a summary of refusals, at most every refusalLogEvery. Nil: silent.
	Logger *slog.Logger
}

// refusalLogEvery spaces the refusal summaries: a flood must not flood the log too.
const refusalLogEvery = 10 * time.Second

// Listener is a net.Listener with connection caps. A connection over a cap is refused in
// Accept, at once: Accept hands out the next one and never waits for a slot. Admitted
// connections are the listener's own (*net.TCPConn for TCP), never wrapped, so net/http's
// splice and sendfile paths still apply to them.
//
// A connection counts from Accept until net/http reports it closed or hijacked, so the
// server must have ConnState set to Listener.ConnState (or call it from its own hook).
type Listener struct {
	net.Listener
	o ConnLimits

	mu     sync.Mutex
	open   int
	client map[netip.Prefix]int // open connections per client; kept only with PerClient

	refusedClient, refusedTotal atomic.Uint64
	lastLog                     atomic.Int64 // unix nanoseconds of the last summary
}

// Limit caps the connections ln accepts.
func Limit(ln net.Listener, o ConnLimits) *Listener {
	return &Listener{Listener: ln, o: o, client: make(map[netip.Prefix]int)}
}

// Accept returns the next connection within the caps, closing (or answering 503 on) every
// one over them on the way.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.o.PerClient <= 0 && l.o.Total <= 0 {
			return c, nil
		}
		ip, key, known := clientOf(c.RemoteAddr())
		reason := l.admit(ip, key, known)
		if reason == "" {
			return c, nil
		}
		l.refuse(c, ip, reason)
	}
}

// ConnState counts a connection out once net/http is done with it. net/http reports
// StateClosed or StateHijacked exactly once per connection it served.
func (l *Listener) ConnState(c net.Conn, s http.ConnState) {
	if s != http.StateClosed && s != http.StateHijacked {
		return
	}
	if l.o.PerClient <= 0 && l.o.Total <= 0 {
		return
	}
	_, key, known := clientOf(c.RemoteAddr())
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.o.PerClient > 0 && known {
		if n := l.client[key] - 1; n > 0 {
			l.client[key] = n
		} else {
			delete(l.client, key)
		}
	}
}

// Open returns the number of connections counted in.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Refused returns how many connections were refused for each cap since the start.
func (l *Listener) Refused() (perClient, total uint64) {
	return l.refusedClient.Load(), l.refusedTotal.Load()
}

// admit counts a connection in, or returns which cap it is over.
func (l *Listener) admit(ip netip.Addr, key netip.Prefix, known bool) string {
	capped := l.o.PerClient > 0 && known && (l.o.Exempt == nil || !l.o.Exempt(ip))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.o.Total > 0 && l.open >= l.o.Total {
		return "total"
	}
	if capped && l.client[key] >= l.o.PerClient {
		return "per_client"
	}
	l.open++
	if l.o.PerClient > 0 && known {
		l.client[key]++
	}
	return ""
}

// Canned answers to refused plain-HTTP connections, in the contract's error shape. There is
// no request yet, so no request id.
var (
	refusalClient = cannedError(503, "too_many_connections", "too many open connections from your address; close some and try again")
	refusalTotal  = cannedError(503, "too_many_connections", "the gateway is at its connection limit; try again later")
)

func cannedError(status int, code, message string) []byte {
	body := `{"code":"` + code + `","message":"` + message + `","request_id":""}` + "\n"
	return []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Content-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Cache-Control: no-store\r\n" +
		"Retry-After: 1\r\n" +
		"X-Error-Code: " + code + "\r\n" +
		"Connection: close\r\n\r\n" + body)
}

// refusalWrite bounds writing the canned answer; a fresh connection's send buffer takes it
// without waiting, so this only guards against the impossible.
const refusalWrite = 100 * time.Millisecond

// refuse closes a connection over a cap, answering 503 first on plain HTTP.
func (l *Listener) refuse(c net.Conn, ip netip.Addr, reason string) {
	if l.o.AnswerHTTP {
		answer := refusalTotal
		if reason == "per_client" {
			answer = refusalClient
		}
		_ = c.SetWriteDeadline(time.Now().Add(refusalWrite))
		_, _ = c.Write(answer)
		drain(c)
	}
	_ = c.Close()
	if reason == "per_client" {
		l.refusedClient.Add(1)
	} else {
		l.refusedTotal.Add(1)
	}
	if l.o.Logger == nil {
		return
	}
	now, last := time.Now().UnixNano(), l.lastLog.Load()
	if now-last < int64(refusalLogEvery) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	perClient, total := l.Refused()
	l.o.Logger.Warn("connections_refused", "reason", reason, "client_ip", ip.String(),
		"open", l.Open(), "refused_per_client", perClient, "refused_total", total)
}

// ClientPrefix is the unit connection caps and rate limits count by: an IPv4 address, or
// the /64 of an IPv6 address. IPv4-mapped IPv6 addresses count as IPv4.
func ClientPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// clientOf returns a TCP peer's address and its ClientPrefix; known is false for other
// kinds of address (they count toward the total cap only).
func clientOf(a net.Addr) (ip netip.Addr, key netip.Prefix, known bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, netip.Prefix{}, false
	}
	ip = ta.AddrPort().Addr().Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, netip.Prefix{}, false
	}
	return ip, ClientPrefix(ip), true
}
