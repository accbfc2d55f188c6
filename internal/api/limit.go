package api

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/assetgateway/assetgateway/internal/edge"
)

// RateLimit bounds how fast one client (an IPv4 address, an IPv6 /64) may fail: guessing
// control tokens (401/403) or object tokens (404 token_not_found). Past the budget the client
// gets 429 too_many_requests with Retry-After for every request to the control API and
// /object — a correct token included, or the limiter would tell a right guess from a wrong
// one — until its budget refills. The price: a backend that shares an address with a guesser
// (behind one NAT) is refused too; exempt it by turning the limiter off (PerMinute 0) where
// the network is trusted.
type RateLimit struct {
	// PerMinute is the sustained number of failures allowed per client; zero turns the
	// limiter off (for trusted networks).
	PerMinute int
	// Burst is how many failures a client may make at once before the rate applies.
	Burst int
}

// limiter is a token bucket of failures per client address (IPv6 clients by /64, since one
// client usually holds a whole /64).
type limiter struct {
	rate  float64 // failures refilled per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	clients map[netip.Prefix]*failBucket
}

type failBucket struct {
	tokens float64
	last   time.Time
}

// maxTracked bounds the limiter's memory: past it, clients whose budget is whole again are
// forgotten first.
const maxTracked = 100_000

func newLimiter(o RateLimit, now func() time.Time) *limiter {
	if o.PerMinute <= 0 {
		return nil
	}
	burst := o.Burst
	if burst <= 0 {
		burst = o.PerMinute
	}
	return &limiter{rate: float64(o.PerMinute) / 60, burst: float64(burst), now: now,
		clients: make(map[netip.Prefix]*failBucket)}
}

func clientKey(ip string) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}, false
	}
	return edge.ClientPrefix(a), true // the unit connection caps count by, too
}

// refill brings b up to date; the caller holds l.mu.
func (l *limiter) refill(b *failBucket, now time.Time) {
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
}

// blocked reports whether ip has no failures left, and how long until it has one.
func (l *limiter) blocked(ip string) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	key, ok := clientKey(ip)
	if !ok {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[key]
	if b == nil {
		return false, 0
	}
	l.refill(b, l.now())
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// fail spends one of ip's failures.
func (l *limiter) fail(ip string) {
	if l == nil {
		return
	}
	key, ok := clientKey(ip)
	if !ok {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[key]
	if b == nil {
		if len(l.clients) >= maxTracked {
			l.forget(now)
		}
		b = &failBucket{tokens: l.burst, last: now}
		l.clients[key] = b
	}
	l.refill(b, now)
	b.tokens = math.Max(0, b.tokens-1)
}

// forget drops clients whose budget is whole again, or else any half of them; the caller
// holds l.mu.
func (l *limiter) forget(now time.Time) {
	for k, b := range l.clients {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.clients, k)
		}
	}
	for k := range l.clients {
		if len(l.clients) < maxTracked/2 {
			break
		}
		delete(l.clients, k)
	}
}

// tooMany is the 429 answer, with its Retry-After.
func tooMany(w http.ResponseWriter, wait time.Duration) *Error {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Message: "too many failed requests from this client; retry later"}
}
