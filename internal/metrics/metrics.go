// Package metrics defines AssetGateway's Prometheus metrics and records them. Every method
// is safe on a nil *Metrics (recording nothing), so components and tests that run without
// metrics need no special cases.
//
// Exposed series (all prefixed assetgateway_):
//
//	http_requests_total{route,method,code}         counter    requests answered, by route pattern
//	http_request_duration_seconds{route,method}    histogram  time to the last byte
//	object_bytes_total{direction="out"|"in"}       counter    object bytes sent to / received from clients
//	hits_total{outcome="consumed"|"refunded"}      counter    hits taken by GET/PUT and handed back
//	store_duration_seconds{op,result}              histogram  token-store call latency
//	upstream_duration_seconds{bucket,op,result}    histogram  object-store latency (GET: to response headers)
//	callback_queue_depth{state="queued"|"scheduled"} gauge    webhooks waiting
//	callback_events_total{outcome}                 counter    enqueued, delivered, dropped, dead_lettered, abandoned
//	callback_attempts_total{result}                counter    delivery attempts: ok, failed
//	readiness_check{check}                         gauge      1 when the check passed at the last /readyz, else 0
//
// plus the Go runtime and process collectors.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/assetgateway/assetgateway/internal/callback"
)

const ns = "assetgateway"

// latencyBuckets span a Redis round trip on loopback (~50µs) to a slow object store (10s).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds the gateway's collectors and its registry.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	hits     *prometheus.CounterVec
	store    *prometheus.HistogramVec
	upstream *prometheus.HistogramVec
	checks   *prometheus.GaugeVec
}

// New returns a registry with every gateway metric and the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code."}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "http_request_duration_seconds",
			Help: "Time from request to the response's last byte.", Buckets: latencyBuckets}, []string{"route", "method"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "object_bytes_total",
			Help: "Object bytes sent to clients (out) and received from them (in)."}, []string{"direction"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "hits_total",
			Help: "Token hits consumed by GET/PUT, and handed back when nothing was delivered."}, []string{"outcome"}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "store_duration_seconds",
			Help: "Token-store call latency.", Buckets: latencyBuckets}, []string{"op", "result"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "upstream_duration_seconds",
			Help:    "Object-store call latency (GET and HEAD: until the response headers; PUT: the whole upload).",
			Buckets: latencyBuckets}, []string{"bucket", "op", "result"}),
		checks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "readiness_check",
			Help: "1 when the readiness check passed at the last /readyz probe, else 0 (store: decisive; bucket <alias>: advisory)."},
			[]string{"check"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.bytes, m.hits, m.store, m.upstream, m.checks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, d := range []string{"in", "out"} {
		m.bytes.WithLabelValues(d)
	}
	for _, o := range []string{"consumed", "refunded"} {
		m.hits.WithLabelValues(o)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Request records one answered request. route is the matched pattern ("" for none).
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// Bytes counts object bytes moved: direction "out" (to clients) or "in" (uploads).
func (m *Metrics) Bytes(direction string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.bytes.WithLabelValues(direction).Add(float64(n))
}

// Hit counts a consumed or refunded hit.
func (m *Metrics) Hit(outcome string) {
	if m == nil {
		return
	}
	m.hits.WithLabelValues(outcome).Inc()
}

// Store records one token-store call.
func (m *Metrics) Store(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.store.WithLabelValues(op, result(err)).Observe(d.Seconds())
}

// Upstream records one object-store call.
func (m *Metrics) Upstream(bucket, op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.upstream.WithLabelValues(bucket, op, result(err)).Observe(d.Seconds())
}

// Check records the outcome of one readiness check.
func (m *Metrics) Check(name string, ok bool) {
	if m == nil {
		return
	}
	v := 0.0
	if ok {
		v = 1
	}
	m.checks.WithLabelValues(name).Set(v)
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// StatsSource is the callback pool.
type StatsSource interface {
	Stats() callback.Stats
}

// WatchCallbacks exports the pool's counters, read at scrape time.
func (m *Metrics) WatchCallbacks(p StatsSource) {
	if m == nil {
		return
	}
	stat := func(pick func(callback.Stats) int64) func() float64 {
		return func() float64 { return float64(pick(p.Stats())) }
	}
	depth := func(state string, pick func(callback.Stats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "callback_queue_depth",
			Help:        "Webhook events waiting: queued for a worker, or scheduled for a retry.",
			ConstLabels: prometheus.Labels{"state": state}}, stat(pick))
	}
	event := func(outcome string, pick func(callback.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "callback_events_total",
			Help:        "Webhook events by outcome (dropped: in-memory queue full; abandoned: left at shutdown).",
			ConstLabels: prometheus.Labels{"outcome": outcome}}, stat(pick))
	}
	attempt := func(res string, pick func(callback.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "callback_attempts_total",
			Help: "Webhook delivery attempts by result.", ConstLabels: prometheus.Labels{"result": res}}, stat(pick))
	}
	m.reg.MustRegister(
		depth("queued", func(s callback.Stats) int64 { return s.Queued }),
		depth("scheduled", func(s callback.Stats) int64 { return s.Scheduled }),
		event("enqueued", func(s callback.Stats) int64 { return s.Enqueued }),
		event("delivered", func(s callback.Stats) int64 { return s.Delivered }),
		event("dropped", func(s callback.Stats) int64 { return s.Dropped }),
		event("dead_lettered", func(s callback.Stats) int64 { return s.DeadLettered }),
		event("abandoned", func(s callback.Stats) int64 { return s.Abandoned }),
		attempt("ok", func(s callback.Stats) int64 { return s.Attempts - s.Failed }),
		attempt("failed", func(s callback.Stats) int64 { return s.Failed }),
	)
}
