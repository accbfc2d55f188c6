package callback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// mode is one queue implementation every applicable test runs against.
type mode struct {
	name  string
	redis bool
}

var modes = []mode{{"memory", false}, {"redis", true}}

// forModes runs f once per queue implementation.
func forModes(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, newEnv(t, m)) })
	}
}

// env is one test's world: a fake clock, captured logs and, in redis mode, a fresh
// redis-server.
type env struct {
	t     *testing.T
	mode  mode
	rdb   *redis.Client // nil in memory mode
	clock *fakeClock
	logs  *logBuffer
}

func newEnv(t *testing.T, m mode) *env {
	t.Helper()
	e := &env{t: t, mode: m, clock: newFakeClock(), logs: &logBuffer{}}
	if m.redis {
		srv := testenv.StartRedis(t)
		e.rdb = redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = e.rdb.Close() })
		if err := e.rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("ping redis: %v", err)
		}
	}
	return e
}

// opts returns test defaults: fast polling, no jitter, the fake clock, captured logs, private
// targets allowed (receivers are on 127.0.0.1) and this env's Redis.
func (e *env) opts() Options {
	o := Options{
		KeyPrefix:    "test:",
		Workers:      4,
		QueueSize:    10000,
		PerHost:      4,
		Timeout:      5 * time.Second,
		Retries:      []time.Duration{time.Second},
		AllowPrivate: true,
		Logger:       e.logs.logger(),
		Clock:        e.clock,
		PollInterval: 5 * time.Millisecond,
		Jitter:       func(d time.Duration) time.Duration { return d },
		DrainTimeout: 5 * time.Second,
	}
	if e.rdb != nil {
		o.Redis = e.rdb
	}
	return o
}

func (e *env) pool(o Options) *Pool {
	e.t.Helper()
	p, err := New(o)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return p
}

// run starts p.Run and returns a stop function that cancels it and waits (bounded) for it to
// return. stop is idempotent and also runs at cleanup.
func (e *env) run(p *Pool) (stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(20 * time.Second):
				e.t.Errorf("Run did not return within 20s of cancel")
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// enqueue enqueues n events to target and returns their events keyed by request_id.
func (e *env) enqueue(p *Pool, target string, n int) []Event {
	e.t.Helper()
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = testEvent(i)
		if err := p.Enqueue(context.Background(), target, evs[i]); err != nil {
			e.t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	return evs
}

func testEvent(i int) Event {
	return Event{Event: EventAccess, Method: "GET", Status: 200, Bucket: "prod-assets",
		Key: "uploads/report-" + strconv.Itoa(i) + ".pdf", Size: 83214, ETag: "6805f2cfc46c0f04559748bb039d69ae",
		ClientIP: "127.0.0.1", UserAgent: "curl/8.7.1", RequestID: "req-" + strconv.Itoa(i), Timestamp: 1760000000}
}

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_760_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects a pool's logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond every few milliseconds until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// advanceUntil moves the fake clock by step and gives the pool a moment, until cond holds;
// bounded in steps and in real time.
func advanceUntil(t *testing.T, c *fakeClock, step time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; !cond(); i++ {
		if i > 5000 || time.Now().After(deadline) {
			t.Fatalf("gave up after %d clock steps of %s waiting for %s", i, step, what)
		}
		c.Advance(step)
		time.Sleep(3 * time.Millisecond)
	}
}

// hit is one request a receiver got.
type hit struct {
	ID, Timestamp, Signature, Body, ContentType, UserAgent, Query string
	Status                                                        int // what the receiver answered; 0 for a dropped connection
}

// receiver is a real HTTP server that records every webhook request.
type receiver struct {
	srv   *httptest.Server
	serve func(w http.ResponseWriter, r *http.Request, attempt int) int

	mu      sync.Mutex
	arrived int
	perID   map[string]int
	hits    []hit
}

// newReceiver starts a receiver; serve answers the attempt-th request for a webhook-id and
// returns the status it sent. Nil serve answers 204.
func newReceiver(t *testing.T, serve func(w http.ResponseWriter, r *http.Request, attempt int) int) *receiver {
	t.Helper()
	rc := &receiver{serve: serve, perID: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.handle))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	rc.arrived++
	rc.perID[id]++
	n := rc.perID[id]
	rc.mu.Unlock()
	status := http.StatusNoContent
	if rc.serve != nil {
		status = rc.serve(w, r, n)
	} else {
		w.WriteHeader(status)
	}
	rc.mu.Lock()
	rc.hits = append(rc.hits, hit{ID: id, Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Body: string(body), ContentType: r.Header.Get("content-type"),
		UserAgent: r.Header.Get("user-agent"), Query: r.URL.RawQuery, Status: status})
	rc.mu.Unlock()
}

// url is the receiver's base URL plus suffix.
func (rc *receiver) url(suffix string) string { return rc.srv.URL + suffix }

func (rc *receiver) port() uint16 {
	u, _ := url.Parse(rc.srv.URL)
	p, _ := strconv.Atoi(u.Port())
	return uint16(p)
}

func (rc *receiver) requests() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

func (rc *receiver) arrivals() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.arrived
}

// delivered counts 2xx answers per webhook-id.
func (rc *receiver) delivered() map[string]int {
	out := map[string]int{}
	for _, h := range rc.requests() {
		if h.Status >= 200 && h.Status < 300 {
			out[h.ID]++
		}
	}
	return out
}

// answer returns a serve function that answers the given statuses in turn per webhook-id
// (the last one repeats). Status 0 drops the connection without an answer.
func answer(statuses ...int) func(http.ResponseWriter, *http.Request, int) int {
	return func(w http.ResponseWriter, r *http.Request, attempt int) int {
		s := statuses[min(attempt, len(statuses))-1]
		if s == 0 {
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic("receiver cannot hijack")
			}
			c, _, err := hj.Hijack()
			if err == nil {
				_ = c.Close()
			}
			return 0
		}
		w.WriteHeader(s)
		return s
	}
}

// verify checks a webhook-signature header against one secret, independently of signer.
func verify(secret, id, timestamp, body, header string) bool {
	key := []byte(secret)
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return false
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "." + body))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// stubResolver answers from a table that tests may change between calls.
type stubResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
}

func newStubResolver() *stubResolver { return &stubResolver{answers: map[string][]netip.Addr{}} }

func (s *stubResolver) set(host string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[host] = nil
	for _, a := range addrs {
		s.answers[host] = append(s.answers[host], netip.MustParseAddr(a))
	}
}

func (s *stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.answers[strings.TrimSuffix(host, ".")]
	if !ok {
		return nil, errors.New("no such host")
	}
	return a, nil
}

// leakCheck records the goroutine count; the returned function fails t if, after polling for a
// few seconds, more goroutines are running than at the start.
func leakCheck(t *testing.T) func() {
	t.Helper()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Fatalf("goroutines: got %d, want at most %d (before the pool)\n%s", runtime.NumGoroutine(), before, buf[:n])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// redisCount returns a Redis integer reply for tests, failing on error.
func redisCount(t *testing.T, cmd *redis.IntCmd) int64 {
	t.Helper()
	n, err := cmd.Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("redis: %v", err)
	}
	return n
}
