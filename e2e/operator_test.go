package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReadyzAndMetrics: /readyz follows Redis and reports the buckets (an unreachable alias
// does not make the replica unready); /metrics reports what happened.
func TestReadyzAndMetrics(t *testing.T) {
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		// A second alias whose store cannot be reached: reported, but the replica stays ready.
		section(cfg, "buckets")["broken"] = map[string]any{"bucket": "b", "endpoint": "http://127.0.0.1:1",
			"credential": "minio", "force_path_style": true}
	}))
	c := client{t, gw.URL}
	readiness := func() (int, map[string]any) {
		resp, body := c.do("GET", "/readyz", nil)
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		return resp.StatusCode, out
	}
	if code, out := readiness(); code != 200 || out["status"] != "ok" || out["checks"].(map[string]any)["bucket broken"] == "ok" {
		t.Fatalf("/readyz with one alias unreachable: got %d %v, want 200 naming it", code, out)
	}
	put := c.mint(`{"bucket":"assets","key":"ops/obj","method":"PUT"}`)
	c.do("PUT", "/object/"+put, strings.NewReader("0123456789"))
	get := c.mint(`{"bucket":"assets","key":"ops/obj","method":"GET"}`)
	c.do("GET", "/object/"+get, nil)

	env.Redis.Stop()
	code, out := readiness()
	checks, _ := out["checks"].(map[string]any)
	if code != 503 || checks["store"] != "unreachable" || checks["bucket assets"] != "ok" {
		t.Fatalf("/readyz with Redis stopped: got %d %v", code, out)
	}
	t.Logf("/readyz with Redis stopped: %d %v", code, out)
	c.do("GET", "/object/"+get, nil) // 503

	_, body := c.do("GET", "/metrics", nil)
	for _, want := range []string{
		`assetgateway_http_requests_total{code="200",method="GET",route="GET /object/{token}"} 1`,
		`assetgateway_http_requests_total{code="503",method="GET",route="GET /object/{token}"} 1`,
		`assetgateway_hits_total{outcome="consumed"} 2`,
		`assetgateway_object_bytes_total{direction="in"} 10`,
		`assetgateway_object_bytes_total{direction="out"} 10`,
		`assetgateway_store_duration_seconds_count{op="access",result="error"} 1`,
		`assetgateway_upstream_duration_seconds_count{bucket="assets",op="put",result="ok"} 1`,
		`assetgateway_callback_queue_depth{state="queued"}`,
		`assetgateway_readiness_check{check="bucket broken"} 0`,
		`assetgateway_readiness_check{check="store"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var excerpt []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "assetgateway_") && !strings.Contains(line, "_bucket{") {
			excerpt = append(excerpt, line)
		}
	}
	t.Logf("/metrics excerpt:\n%s", strings.Join(excerpt, "\n"))
	env.Redis.Restart(t)
}
