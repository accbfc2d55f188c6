package api_test

// Benchmarks of what every request pays in package api: the request-id middleware, routing,
// the access log (discarded, or JSON to io.Discard as in production) and the metrics; and the
// control API's POST /token without a store behind it. Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/metrics"
	"github.com/assetgateway/assetgateway/internal/token"
)

const benchControl = "bench-control-token"

// nullTokens accepts every record and knows none.
type nullTokens struct{}

func (nullTokens) Create(context.Context, string, token.Record) error { return nil }
func (nullTokens) CreateMany(_ context.Context, items []token.Item) ([]error, error) {
	return make([]error, len(items)), nil
}
func (nullTokens) Get(context.Context, string) (token.Record, error) {
	return token.Record{}, token.ErrNotFound
}
func (nullTokens) Delete(context.Context, string) error { return token.ErrNotFound }

// kibObjects answers every GET with the same 1 KiB body.
type kibObjects struct{}

var kib = bytes.Repeat([]byte("x"), 1<<10)

func (kibObjects) Delete(http.ResponseWriter, *http.Request) error { return nil }

func (kibObjects) Get(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", "1024")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(kib)
	return err
}

func (kibObjects) Put(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

// sinkWriter is a ResponseWriter that keeps only the status, so that the benchmark counts
// the API's allocations and not a recorder's.
type sinkWriter struct {
	header http.Header
	status int
}

func (w *sinkWriter) Header() http.Header         { return w.header }
func (w *sinkWriter) WriteHeader(status int)      { w.status = status }
func (w *sinkWriter) Write(p []byte) (int, error) { return len(p), nil }

// rewindBody is a request body that can be replayed without allocating.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

func newBenchAPI(logger *slog.Logger, withMetrics bool) *api.API {
	o := api.Options{
		Tokens:        nullTokens{},
		Objects:       kibObjects{},
		ControlTokens: []string{benchControl},
		Host:          "https://gw.example.com",
		Logger:        logger,
	}
	if withMetrics {
		o.Metrics = metrics.New()
	}
	return api.New(o)
}

// loggers are the two logging set-ups compared: none, and the production JSON access log
// (info level) written to io.Discard.
var loggers = []struct {
	name string
	new  func() *slog.Logger
}{
	{"discard-log", func() *slog.Logger { return slog.New(slog.DiscardHandler) }},
	{"json-log", func() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }},
}

// serveLoop sends r through a over and over.
func serveLoop(b *testing.B, a http.Handler, r *http.Request, keepID bool, body []byte, want int) {
	w := &sinkWriter{header: http.Header{}}
	var rb rewindBody
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		w.status = 0
		if !keepID {
			r.Header.Del("X-Request-Id") // the middleware sets it on the request
		}
		if body != nil {
			rb.Reset(body)
			r.Body = &rb
		}
		a.ServeHTTP(w, r)
		if w.status != want {
			b.Fatalf("status %d, want %d", w.status, want)
		}
	}
}

// BenchmarkHealthz is the request-id middleware, routing and the access log around the
// smallest handler: with the caller's X-Request-Id or a generated UUID, with and without the
// JSON access log and the Prometheus metrics.
func BenchmarkHealthz(b *testing.B) {
	for _, l := range loggers {
		for _, m := range []bool{false, true} {
			for _, given := range []bool{true, false} {
				name := l.name
				if m {
					name += "/metrics"
				}
				if given {
					name += "/given-id"
				} else {
					name += "/new-id"
				}
				b.Run(name, func(b *testing.B) {
					a := newBenchAPI(l.new(), m)
					r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
					if given {
						r.Header.Set("X-Request-Id", "0f4f8f4d-6d59-4df0-8a5c-f8352d2a8f47")
					}
					serveLoop(b, a, r, given, nil, http.StatusOK)
				})
			}
		}
	}
}

// BenchmarkObjectRoute is the API's share of GET /object/{token}: middleware, routing, access
// log and metrics around an Objects that writes a 1 KiB answer at once.
func BenchmarkObjectRoute(b *testing.B) {
	for _, l := range loggers {
		for _, m := range []bool{false, true} {
			name := l.name
			if m {
				name += "/metrics"
			}
			b.Run(name, func(b *testing.B) {
				a := newBenchAPI(l.new(), m)
				r := httptest.NewRequest(http.MethodGet, "/object/bench-token-0123456789abcdef", nil)
				serveLoop(b, a, r, false, nil, http.StatusOK)
			})
		}
	}
}

// BenchmarkCreateToken is POST /token without a store: authorization, JSON decoding and
// validation, a random token, the JSON answer.
func BenchmarkCreateToken(b *testing.B) {
	body := []byte(`{"bucket":"assets","key":"videos/2024/demo-000123.mp4","method":"GET","max_hits":3,"filename":"demo.mp4"}`)
	for _, l := range loggers {
		b.Run(l.name, func(b *testing.B) {
			o := api.Options{
				Tokens:        nullTokens{},
				Objects:       kibObjects{},
				Buckets:       map[string]api.Bucket{"assets": nil},
				ControlTokens: []string{benchControl},
				Host:          "https://gw.example.com",
				Logger:        l.new(),
			}
			a := api.New(o)
			r := httptest.NewRequest(http.MethodPost, "/token", nil)
			r.Header.Set("Authorization", "Bearer "+benchControl)
			r.Header.Set("Content-Type", "application/json")
			r.ContentLength = int64(len(body))
			serveLoop(b, a, r, false, body, http.StatusCreated)
		})
	}
}
