package e2e

// The S3 data path seen from outside: an endpoint only a forward proxy can reach, and a
// store that resets a download midway.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// forwardProxy is an HTTP forward proxy (absolute-form requests) that knows one host name,
// which no resolver does, and sends it to the env's MinIO with the Host header unchanged (the
// signature covers it). It records the method of every request it forwarded.
type forwardProxy struct {
	srv *httptest.Server
	mu  sync.Mutex
	saw map[string]int
}

func newForwardProxy(t *testing.T, host, upstream string) *forwardProxy {
	t.Helper()
	fp := &forwardProxy{saw: map[string]int{}}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = "http", upstream
		pr.Out.Host = pr.In.Host
	}}
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.RequestURI, "http://") || r.URL.Host != host {
			http.Error(w, "this proxy only knows "+host, http.StatusBadGateway)
			return
		}
		fp.mu.Lock()
		fp.saw[r.Method]++
		fp.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(fp.srv.Close)
	return fp
}

func (fp *forwardProxy) count(method string) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.saw[method]
}

// TestS3ThroughForwardProxy: the bucket endpoint is a host name only the forward proxy named
// by HTTP_PROXY can reach. Uploads, downloads, HEADs and the readiness check all go through
// it — GET and HEAD included, which skip the SDK on a direct endpoint.
func TestS3ThroughForwardProxy(t *testing.T) {
	env := newEnv(t, false)
	const host = "s3.proxy-only.test:9000"
	fp := newForwardProxy(t, host, endpointHost(t, env.S3.Endpoint))
	cfg := env.Config(func(cfg map[string]any) {
		section(cfg, "buckets")["assets"].(map[string]any)["endpoint"] = "http://" + host
	})
	gw := startGatewayEnv(t, cfg, []string{"HTTP_PROXY=" + fp.srv.URL, "http_proxy=" + fp.srv.URL, "NO_PROXY=", "no_proxy="})
	c := client{t, gw.URL}

	put := c.mint(`{"bucket":"assets","key":"proxied/obj","method":"PUT"}`)
	if o := try(plainClient(30*time.Second), "PUT", gw.URL+"/object/"+put, strings.NewReader("through the proxy")); o.status != 200 {
		t.Fatalf("PUT: %s", o)
	}
	get := c.mint(`{"bucket":"assets","key":"proxied/obj","method":"GET"}`)
	if o := try(plainClient(30*time.Second), "HEAD", gw.URL+"/object/"+get, nil); o.status != 200 {
		t.Fatalf("HEAD: %s", o)
	}
	if o := try(plainClient(30*time.Second), "GET", gw.URL+"/object/"+get, nil); o.status != 200 || string(o.body) != "through the proxy" {
		t.Fatalf("GET: %s", o)
	}
	if o := try(plainClient(30*time.Second), "GET", gw.URL+"/readyz", nil); o.status != 200 {
		t.Fatalf("readyz: %s", o)
	}
	for _, m := range []string{"PUT", "GET", "HEAD"} {
		if fp.count(m) == 0 {
			t.Errorf("no %s went through the forward proxy", m)
		}
	}
	t.Logf("through the proxy: %d PUT, %d GET, %d HEAD", fp.count("PUT"), fp.count("GET"), fp.count("HEAD"))
}

// TestS3ResetMidBody: the store resets the connection (RST) in the middle of a 32 MiB
// download. The client sees a cut connection, the hit is handed back (nothing usable was
// delivered) and no webhook is sent; the same token then serves the whole object.
func TestS3ResetMidBody(t *testing.T) {
	env := newEnv(t, false)
	content := randomBytes(32 << 20)
	env.putDirect(t, "reset/big", content)
	tap := testenv.StartTap(t, endpointHost(t, env.S3.Endpoint))
	rc := newReceiver(t)
	gw := startGateway(t, env.Config(withEndpoint(tap.Addr, withWebhooks("100ms"))))
	c := client{t, gw.URL}
	tok := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"reset/big","method":"GET","max_hits":1,"callback":%q}`, rc.srv.URL+"/hook"))

	req, _ := http.NewRequest("GET", gw.URL+"/object/"+tok, nil)
	req.Header.Set("X-Request-Id", "reset-mid-body")
	resp, err := plainClient(60 * time.Second).Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	buf := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("reading the first MiB: %v", err)
	}
	tap.ResetAll() // the store goes away mid-body
	rest, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if readErr == nil || len(rest)+len(buf) >= len(content) {
		t.Fatalf("GET reset by S3: read %d bytes, error %v; want a short body and an error", len(rest)+len(buf), readErr)
	}
	c.waitUsedHits(tok, 0, 10*time.Second)
	o := try(plainClient(60*time.Second), "GET", gw.URL+"/object/"+tok, nil, "X-Request-Id", "reset-retry")
	if o.status != 200 || !bytes.Equal(o.body, content) {
		t.Fatalf("retry: got %d and %d bytes, want 200 and the whole object", o.status, len(o.body))
	}
	rc.waitEvent(t, "reset-retry", 10*time.Second)
	if _, ok := rc.eventFor("reset-mid-body"); ok {
		t.Fatal("a webhook was sent for the GET that S3 reset")
	}
}
