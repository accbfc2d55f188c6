package callback

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// EventAccess is the event name of the seed's callback: a successful GET, HEAD or PUT.
const EventAccess = "asset.access"

// Event is the webhook body. Its JSON is exactly the seed's: these fields, in this order, and
// nothing else (no token, no credentials).
type Event struct {
	Event     string `json:"event"`
	Method    string `json:"method"`
	Status    int    `json:"status"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"etag"`
	Range     string `json:"range"`
	ClientIP  string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
	Referer   string `json:"referer"`
	RequestID string `json:"request_id"`
	Timestamp int64  `json:"timestamp"`
}

var (
	// ErrQueueFull is returned by Enqueue when the in-memory queue is full; the event is
	// dropped and counted in Stats.Dropped.
	ErrQueueFull = errors.New("callback: queue full, event dropped")
	// ErrNotFound is returned by Replay for an ID that is not a dead letter.
	ErrNotFound = errors.New("callback: no such dead letter")
	// ErrClosed is returned by Enqueue and Replay on an in-memory pool whose Run has returned.
	ErrClosed = errors.New("callback: pool stopped")
)

// Clock tells the time. Retry due times, dead-letter times and webhook-timestamp come from it;
// timeouts and poll intervals are real time.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options configure a Pool. The values that are configuration keys (Workers, QueueSize,
// PerHost, Timeout, Retries: callback.* in internal/config, which owns their defaults) are
// required; the other zero values select the tuning documented on each.
type Options struct {
	// Redis makes the queue durable. Nil: an in-process queue that loses its events on
	// restart; New logs a warning saying so.
	Redis redis.UniversalClient
	// KeyPrefix is prepended to every Redis key, e.g. "ag:".
	KeyPrefix string
	// Workers is the number of concurrent deliveries in this process. Required.
	Workers int
	// QueueSize bounds the events waiting for a worker in this process. In-memory: a full
	// queue makes Enqueue return ErrQueueFull. Redis: events beyond it stay in the stream
	// (this process holds at most min(Workers, QueueSize) entries) and a backlog longer than
	// QueueSize is logged. Zero: 10000.
	QueueSize int
	// PerHost bounds concurrent deliveries to one destination (host:port). An event whose
	// destination is saturated is put back for BusyDelay instead of occupying a worker.
	// Required.
	PerHost int
	// Timeout bounds one attempt: dial, TLS, request, response headers and body. Required.
	Timeout time.Duration
	// Secrets sign every attempt, current first: raw text or "whsec_<base64>". Each non-empty
	// secret adds one signature. Empty: deliveries are unsigned.
	Secrets []string
	// Retries are the delays between attempts; after the attempt that follows the last delay
	// fails, the event is dead-lettered. Empty: one attempt.
	Retries []time.Duration
	// AllowPrivate turns the SSRF guard off at dial time.
	AllowPrivate bool
	// Logger receives the pool's logs. Nil: logs are discarded.
	Logger *slog.Logger
	// Clock supplies due times and webhook-timestamp. Nil: real time.
	Clock Clock
	// Resolver resolves callback host names at dial time. Nil: net.DefaultResolver.
	Resolver Resolver
	// DrainTimeout is how long Run keeps delivering after its context is cancelled: queued
	// events (in-memory) and in-flight attempts get this long, then the rest is abandoned.
	// Zero: 10s. Negative: stop at once.
	DrainTimeout time.Duration
	// ClaimIdle is how long an entry may stay pending with a consumer before another consumer
	// takes it over (XAUTOCLAIM): the time after which a crashed replica's events are
	// redelivered. It must exceed the longest a live worker holds an entry (about two
	// Timeouts). Zero: max(15s, 3×Timeout).
	ClaimIdle time.Duration
	// PollInterval is how often due retries are moved back to the queue and abandoned entries
	// are claimed, and the longest a Redis read blocks. Zero: 1s.
	PollInterval time.Duration
	// BusyDelay is how long an event waits when its destination host is saturated. Zero: 1s.
	BusyDelay time.Duration
	// Jitter turns a scheduled delay into the one used. Nil: uniform in [0.8d, 1.2d].
	// Retry-After delays are not jittered.
	Jitter func(d time.Duration) time.Duration
	// MaxDeadLetters bounds the dead-letter list; the oldest are dropped. Zero: 10000.
	MaxDeadLetters int
	// MaxScheduled bounds the in-memory retry schedule; an event that fails while it is full
	// is dead-lettered at once. Zero: 10 × QueueSize.
	MaxScheduled int
	// EnqueueTimeout bounds the Redis write in Enqueue. Zero: 2s.
	EnqueueTimeout time.Duration
}

// Stats are the pool's counters since New. Counters are this process's; with Redis, Queued
// and Scheduled are the shared queue's, as last measured.
type Stats struct {
	Enqueued     int64 // events accepted by Enqueue
	Delivered    int64 // events a receiver acknowledged with 2xx
	Attempts     int64 // delivery attempts made
	Failed       int64 // attempts that failed
	Dropped      int64 // events refused because the in-memory queue was full
	DeadLettered int64 // events moved to the dead-letter list
	Deferred     int64 // times an event was put back because its host was saturated
	Abandoned    int64 // events left at shutdown (in-memory: lost; Redis: left for another consumer)
	Queued       int64 // events waiting for a worker (Redis: stream length, including in flight)
	Scheduled    int64 // events waiting for their retry time
}

// DeadLetter is an event whose delivery was given up.
type DeadLetter struct {
	ID         string // webhook-id
	Target     string // callback URL
	Event      Event
	Attempts   int    // attempts made in total
	LastStatus int    // HTTP status of the last attempt; 0 when it got no response
	LastError  string // why the last attempt failed
	FailedAt   time.Time
}

// job is one event in the queue, as stored in Redis (JSON) and in memory.
type job struct {
	ID         string `json:"id"`
	Target     string `json:"target"`
	Body       string `json:"body"`
	Attempt    int    `json:"attempt"`  // attempts in the current schedule (Replay resets it)
	Attempts   int    `json:"attempts"` // attempts in total
	LastStatus int    `json:"last_status,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	FailedAt   int64  `json:"failed_at,omitempty"` // Unix ms, dead letters only
}

func (j *job) deadLetter() DeadLetter {
	dl := DeadLetter{ID: j.ID, Target: j.Target, Attempts: j.Attempts, LastStatus: j.LastStatus,
		LastError: j.LastError, FailedAt: time.UnixMilli(j.FailedAt)}
	_ = json.Unmarshal([]byte(j.Body), &dl.Event)
	return dl
}

// delivery is a job taken from the queue by this process.
type delivery struct {
	job
	entry string // Redis stream entry ID; "" in memory
	host  string // canonical host:port, the per-host limit's key and what logs show
}

func newDelivery(j job) (*delivery, error) {
	u, err := url.Parse(j.Target)
	if err != nil {
		return nil, err
	}
	return &delivery{job: j, host: hostKey(u)}, nil
}

// hostKey is the lower-cased host:port of u, with the scheme's default port filled in.
func hostKey(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// queue is where jobs wait: Redis (durable) or memory.
type queue interface {
	// push stores a new job.
	push(ctx context.Context, j *job) error
	// start launches the goroutines that feed Pool.work (and Pool.due) until ctx is done.
	start(ctx context.Context, wg *sync.WaitGroup)
	// ack, retry and bury settle a delivery: delivered; back in the queue at due; dead.
	// errNotOwned means another consumer settled it first.
	ack(ctx context.Context, d *delivery) error
	retry(ctx context.Context, d *delivery, due time.Time) error
	bury(ctx context.Context, d *delivery) error
	// release frees the local capacity a delivery held, settled or not.
	release(d *delivery)
	deadLetters(ctx context.Context, limit int) ([]job, error)
	replay(ctx context.Context, id string) error
	// stop runs once, after every worker has exited.
	stop(ctx context.Context)
	depth() (queued, scheduled int64)
}

var (
	errNotOwned      = errors.New("callback: entry was settled by another consumer")
	errScheduleFull  = errors.New("callback: in-memory retry schedule full")
	errRunTwice      = errors.New("callback: Run called more than once")
	maxResponseBytes = int64(64 << 10)
)

// opTimeout bounds each Redis command a worker runs to settle a delivery.
const opTimeout = 5 * time.Second

// Pool delivers events to their callback URLs. Create it with New, start it with Run.
type Pool struct {
	log       *slog.Logger
	clock     Clock
	signer    signer
	resolver  Resolver
	transport *http.Transport
	client    *http.Client

	workers   int
	timeout   time.Duration
	drain     time.Duration
	busyDelay time.Duration
	retries   []time.Duration
	maxDelay  time.Duration
	jitter    func(time.Duration) time.Duration
	enqueueTO time.Duration

	q     queue
	work  chan *delivery // taken jobs waiting for a worker
	due   chan *delivery // in-memory: retries that came due; nil with Redis
	hosts hostLimiter

	running atomic.Bool
	stats   struct {
		enqueued, delivered, attempts, failed, dropped, dead, deferred, abandoned atomic.Int64
	}
	dropWarn warnLimiter

	allowPrivate bool // the dial-time guard is off
}

// report describes one outcome of an attempt or a deferral; it is logged (at debug, message
// "callback_outcome") so that operators and tests can follow every delivery.
type report struct {
	ID      string
	Attempt int
	Status  int
	Err     string
	Outcome string // "delivered", "retry", "dead", "deferred"
	Next    time.Duration
}

// New checks opts and builds a Pool. It does no I/O.
func New(opts Options) (*Pool, error) {
	sg, err := newSigner(opts.Secrets)
	if err != nil {
		return nil, err
	}
	if opts.Workers <= 0 || opts.QueueSize <= 0 || opts.PerHost <= 0 || opts.Timeout <= 0 {
		return nil, fmt.Errorf("callback: workers (%d), queue size (%d), per-host limit (%d) and timeout (%s) must be positive",
			opts.Workers, opts.QueueSize, opts.PerHost, opts.Timeout)
	}
	p := &Pool{
		log:       opts.Logger,
		clock:     opts.Clock,
		signer:    sg,
		resolver:  opts.Resolver,
		workers:   opts.Workers,
		timeout:   opts.Timeout,
		drain:     opts.DrainTimeout,
		busyDelay: positiveDur(opts.BusyDelay, time.Second),
		retries:   opts.Retries,
		jitter:    opts.Jitter,
		enqueueTO: positiveDur(opts.EnqueueTimeout, 2*time.Second),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.clock == nil {
		p.clock = realClock{}
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	if p.drain == 0 {
		p.drain = 10 * time.Second
	}
	p.retries = append([]time.Duration(nil), p.retries...)
	for i, d := range p.retries {
		if d < 0 {
			return nil, fmt.Errorf("callback: retry delay %d is negative", i+1)
		}
		p.maxDelay = max(p.maxDelay, d)
	}
	if p.jitter == nil {
		p.jitter = func(d time.Duration) time.Duration {
			return time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
		}
	}
	queueSize := opts.QueueSize
	maxDead := positive(opts.MaxDeadLetters, 10000)
	poll := positiveDur(opts.PollInterval, time.Second)
	p.hosts = hostLimiter{max: opts.PerHost, n: map[string]int{}}
	p.dropWarn.every = 10 * time.Second

	p.allowPrivate = opts.AllowPrivate
	p.transport = p.newTransport(opts.PerHost)
	p.client = &http.Client{
		Transport:     p.transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	if opts.Redis != nil {
		prefetch := min(p.workers, queueSize)
		p.work = make(chan *delivery, prefetch)
		claimIdle := opts.ClaimIdle
		if claimIdle <= 0 {
			claimIdle = max(15*time.Second, 3*p.timeout)
		}
		p.q = newRedisQueue(p, opts.Redis, opts.KeyPrefix, prefetch, queueSize, maxDead, claimIdle, poll)
	} else {
		p.work = make(chan *delivery, queueSize)
		p.due = make(chan *delivery)
		p.q = newMemQueue(p, positive(opts.MaxScheduled, 10*queueSize), maxDead, poll)
		p.log.Warn("callback delivery is not durable: events wait in process memory and are lost on restart; configure redis.addr for durable delivery",
			"queue_size", queueSize)
	}
	return p, nil
}

func positive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func positiveDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// newID returns a webhook-id: "msg_" and 128 random bits in base32.
func newID() string {
	return "msg_" + rand.Text()
}

// Enqueue queues ev for delivery to target and returns without waiting for the receiver.
// With Redis it returns nil only once the event is stored in Redis; the write is bounded by
// EnqueueTimeout and is not abandoned when ctx is cancelled (a client that goes away must not
// lose its event). In memory it never blocks: a full queue returns ErrQueueFull. target must
// pass the syntax checks of Guard.CheckURL; the address checks are the caller's (at mint time)
// and the dialer's.
func (p *Pool) Enqueue(ctx context.Context, target string, ev Event) error {
	if _, err := parseTarget(target); err != nil {
		return err
	}
	if ev.Event == "" {
		ev.Event = EventAccess
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("callback: encode event: %w", err)
	}
	j := &job{ID: newID(), Target: target, Body: string(body)}
	if err := p.q.push(ctx, j); err != nil {
		if errors.Is(err, ErrQueueFull) {
			p.stats.dropped.Add(1)
			if ok, suppressed := p.dropWarn.allow(); ok {
				p.log.Warn("callback queue full: events dropped", "dropped_since_last_warning", suppressed+1,
					"dropped_total", p.stats.dropped.Load())
			}
		}
		return err
	}
	p.stats.enqueued.Add(1)
	return nil
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	queued, scheduled := p.q.depth()
	return Stats{
		Enqueued:     p.stats.enqueued.Load(),
		Delivered:    p.stats.delivered.Load(),
		Attempts:     p.stats.attempts.Load(),
		Failed:       p.stats.failed.Load(),
		Dropped:      p.stats.dropped.Load(),
		DeadLettered: p.stats.dead.Load(),
		Deferred:     p.stats.deferred.Load(),
		Abandoned:    p.stats.abandoned.Load(),
		Queued:       queued,
		Scheduled:    scheduled,
	}
}

// DeadLetters returns up to limit dead letters, newest first. limit <= 0 means all of them
// (at most MaxDeadLetters).
func (p *Pool) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	jobs, err := p.q.deadLetters(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, len(jobs))
	for i := range jobs {
		out[i] = jobs[i].deadLetter()
	}
	return out, nil
}

// Replay moves the dead letter id back to the queue for immediate delivery with the same
// webhook-id, body and target, and a fresh retry schedule. ErrNotFound if id is not a dead
// letter (never was, was dropped from the bounded list, or was already replayed).
func (p *Pool) Replay(ctx context.Context, id string) error {
	return p.q.replay(ctx, id)
}

// hostLimiter counts concurrent deliveries per destination.
type hostLimiter struct {
	mu  sync.Mutex
	n   map[string]int
	max int
}

func (h *hostLimiter) acquire(host string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[host] >= h.max {
		return false
	}
	h.n[host]++
	return true
}

func (h *hostLimiter) release(host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[host]--; h.n[host] <= 0 {
		delete(h.n, host)
	}
}

// warnLimiter lets one warning through per period and counts the ones it held back.
type warnLimiter struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int64
}

func (w *warnLimiter) allow() (bool, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if !w.last.IsZero() && now.Sub(w.last) < w.every {
		w.suppressed++
		return false, 0
	}
	n := w.suppressed
	w.last, w.suppressed = now, 0
	return true, n
}
