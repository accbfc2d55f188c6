package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/metrics"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestInstrumentedStoreCountsHits(t *testing.T) {
	m := metrics.New()
	mem := token.NewMemoryStore(token.MemoryOptions{})
	defer mem.Close()
	s := m.InstrumentStore(mem)
	ctx := context.Background()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodGet, MaxHits: 1, Size: token.Unlimited,
		ExpireAt: time.Now().Add(time.Hour).Unix()}
	if err := s.Create(ctx, "metrics-token-0123456789", rec); err != nil {
		t.Fatal(err)
	}
	g, err := s.Access(ctx, "metrics-token-0123456789", token.Request{Method: token.MethodGet, ContentLength: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refund(ctx, g); err != nil {
		t.Fatal(err)
	}
	s.Access(ctx, "unknown-token-0123456789", token.Request{Method: token.MethodGet, ContentLength: -1})
	out := scrape(t, m)
	for _, want := range []string{
		`assetgateway_hits_total{outcome="consumed"} 1`,
		`assetgateway_hits_total{outcome="refunded"} 1`,
		`assetgateway_store_duration_seconds_count{op="access",result="ok"} 2`, // a refusal is an answer
		`assetgateway_store_duration_seconds_count{op="create",result="ok"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
}

func TestInstrumentedBackendKeepsOptionalMethods(t *testing.T) {
	m := metrics.New()
	f, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := m.InstrumentBackend("local", f)
	if err := b.(interface{ CheckKey(string) error }).CheckKey("../x"); err == nil {
		t.Fatal("CheckKey lost behind the wrapper")
	}
	if err := b.(interface{ Check(context.Context) error }).Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if mp, ok := objstore.AsMultipart(b); !ok || mp != objstore.Multipart(f) {
		t.Fatal("Multipart lost behind the wrapper")
	}
	ctx, timing := metrics.WithTiming(context.Background())
	if _, err := b.Head(ctx, "missing", objstore.Conditions{}); err == nil {
		t.Fatal("Head of a missing key succeeded")
	}
	if timing.Upstream() <= 0 {
		t.Fatal("upstream time not accumulated")
	}
	if out := scrape(t, m); !strings.Contains(out, `assetgateway_upstream_duration_seconds_count{bucket="local",op="head",result="ok"} 1`) {
		t.Errorf("a missing object should count as an answer:\n%s", out)
	}
}

func TestNilMetricsIsSafe(t *testing.T) {
	var m *metrics.Metrics
	m.Request("r", "GET", 200, time.Second)
	m.Bytes("out", 10)
	m.Hit("consumed")
	m.Store("access", time.Millisecond, nil)
	m.Upstream("b", "get", time.Millisecond, nil)
	m.WatchCallbacks(nil)
}

// TestDashboardUsesRealMetrics: every assetgateway_ series the Grafana dashboard queries is
// one this package exports.
func TestDashboardUsesRealMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/grafana/assetgateway.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	m := metrics.New()
	m.WatchCallbacks(fakeStats{})
	m.Request("r", "GET", 200, time.Millisecond)
	m.Store("access", time.Millisecond, nil)
	m.Upstream("b", "get", time.Millisecond, nil)
	exported := scrape(t, m)
	names := regexp.MustCompile(`assetgateway_[a-z_]+`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range names.FindAllString(tg.Expr, -1) {
				n++
				if !strings.Contains(exported, name) {
					t.Errorf("dashboard queries %s, which is not exported", name)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d metric references found in the dashboard", n)
	}
}

type fakeStats struct{}

func (fakeStats) Stats() callback.Stats { return callback.Stats{} }
