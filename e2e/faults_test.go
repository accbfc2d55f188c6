package e2e

// Fault injection: Redis down, slow and killed; S3 resetting, stalling and cutting bodies;
// clients leaving mid-transfer. Toxiproxy (or a counting tap) sits between the gateway and
// the real servers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
)

// TestRedisDown: with Redis unreachable (its proxy disabled: connections refused), every
// /object and /token request answers 503 store_unavailable with Retry-After within 1 s, no
// byte reaches S3 and no hit is counted; when Redis is back, the same process serves again.
func TestRedisDown(t *testing.T) {
	env := newEnv(t, false)
	env.putDirect(t, "down/obj", []byte("payload"))
	tox := testenv.StartToxiproxy(t)
	rp := tox.Proxy(t, "redis", env.Redis.Addr)
	tap := testenv.StartTap(t, endpointHost(t, env.S3.Endpoint))
	gw := startGateway(t, env.Config(withEndpoint(tap.Addr, func(cfg map[string]any) {
		section(cfg, "redis")["addr"] = rp.Addr
	})))
	c := client{t, gw.URL}
	get := c.mint(`{"bucket":"assets","key":"down/obj","method":"GET","max_hits":5}`)
	put := c.mint(`{"bucket":"assets","key":"down/new","method":"PUT"}`)
	if o := try(plainClient(5*time.Second), "GET", gw.URL+"/object/"+get, nil); o.status != 200 {
		t.Fatalf("GET before the outage: %s", o)
	}

	rp.SetEnabled(t, false)
	s3Before := tap.BytesUp()
	auth := []string{"Authorization", "Bearer " + controlToken}
	requests := []struct {
		name, method, path, body string
		hdr                      []string
	}{
		{"GET object", "GET", "/object/" + get, "", nil},
		{"HEAD object", "HEAD", "/object/" + get, "", nil},
		{"PUT object", "PUT", "/object/" + put, "new content", nil},
		{"POST token", "POST", "/token", `{"bucket":"assets","key":"down/x","method":"GET"}`, auth},
		{"GET token", "GET", "/token/" + get, "", auth},
		{"GET token status", "GET", "/token/" + get + "/status", "", auth},
		{"DELETE token", "DELETE", "/token/" + put, "", auth},
	}
	var worst time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	for round := range 5 {
		for _, rq := range requests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := try(hc, rq.method, gw.URL+rq.path, strings.NewReader(rq.body), rq.hdr...)
				mu.Lock()
				worst = max(worst, o.took)
				mu.Unlock()
				// HEAD has no body to carry the code: the status and Retry-After say it.
				if o.status != 503 || (rq.method != "HEAD" && o.code != "store_unavailable") || o.hdr.Get("Retry-After") != "1" {
					t.Errorf("round %d, %s with Redis down: got %s (Retry-After %q), want 503 store_unavailable",
						round, rq.name, o, o.hdr.Get("Retry-After"))
				}
				if o.took > time.Second {
					t.Errorf("round %d, %s with Redis down: answered after %s, want within 1s", round, rq.name, o.took)
				}
			}()
		}
		wg.Wait()
	}
	if n := tap.BytesUp() - s3Before; n != 0 {
		t.Errorf("%d bytes reached S3 while Redis was down, want 0", n)
	}
	t.Logf("Redis down: %d requests, all 503 store_unavailable, slowest answer %s, 0 bytes to S3",
		5*len(requests), worst.Round(time.Millisecond))

	rp.SetEnabled(t, true)
	back := time.Now()
	deadline := back.Add(10 * time.Second)
	var o outcome
	for {
		o = try(plainClient(5*time.Second), "GET", gw.URL+"/object/"+get, nil)
		if o.status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if o.status != 200 || string(o.body) != "payload" {
		t.Fatalf("after Redis came back: got %s, want 200 payload within 10s", o)
	}
	// The Redis client probes a failed server once a second, so a return shows within ~1 s.
	recovery := time.Since(back)
	if recovery > 3*time.Second {
		t.Errorf("first 200 %s after Redis came back, want within 3s", recovery)
	}
	t.Logf("Redis back: first 200 after %s, no restart", recovery.Round(time.Millisecond))
	if got := c.usedHits(get); got != 2 {
		t.Errorf("used_hits after the outage: got %d, want 2 (one GET before, one after; none during)", got)
	}
}

// TestRedisSilent: Redis does not refuse, it goes silent — connecting hangs (a host gone
// from the network: SYNs dropped) or a connection is open but nothing comes back. Requests
// answer 503 store_unavailable within redis.timeout (500ms here) plus a little, never after
// several timeouts, and nothing reaches S3.
func TestRedisSilent(t *testing.T) {
	env := newEnv(t, false)
	env.putDirect(t, "silent/obj", []byte("payload"))
	tox := testenv.StartToxiproxy(t)
	rp := tox.Proxy(t, "redis", env.Redis.Addr)
	tap := testenv.StartTap(t, endpointHost(t, env.S3.Endpoint))
	const timeout = 500 * time.Millisecond
	cfg := func(addr string) string {
		return env.Config(withEndpoint(tap.Addr, func(cfg map[string]any) {
			section(cfg, "redis")["addr"] = addr
			section(cfg, "redis")["timeout"] = timeout.String()
		}))
	}
	silent := startGateway(t, cfg(rp.Addr))
	tok := client{t, silent.URL}.mint(`{"bucket":"assets","key":"silent/obj","method":"GET"}`)
	rp.AddToxic(t, testenv.Toxic{Name: "silent", Type: "timeout", Stream: "upstream", Attributes: map[string]any{"timeout": 0}})
	hole := startGateway(t, cfg(testenv.Blackhole(t))) // starts anyway: requests get 503

	s3Before := tap.BytesUp()
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, gw := range []struct {
		name string
		g    *Gateway
	}{{"connected, no answer", silent}, {"connect hangs", hole}} {
		var worst time.Duration
		for range 3 {
			for _, rq := range []struct{ method, path, body string }{
				{"GET", "/object/" + tok, ""},
				{"POST", "/token", `{"bucket":"assets","key":"silent/x","method":"GET"}`},
			} {
				o := try(hc, rq.method, gw.g.URL+rq.path, strings.NewReader(rq.body), "Authorization", "Bearer "+controlToken)
				if o.status != 503 || o.code != "store_unavailable" {
					t.Errorf("%s, %s %s: got %s, want 503 store_unavailable", gw.name, rq.method, rq.path, o)
				}
				worst = max(worst, o.took)
			}
		}
		if bound := timeout + 400*time.Millisecond; worst > bound {
			t.Errorf("%s: slowest 503 after %s, want within %s (redis.timeout %s)", gw.name, worst, bound, timeout)
		}
		t.Logf("Redis silent (%s): 6 requests, all 503 store_unavailable, slowest after %s (redis.timeout %s)",
			gw.name, worst.Round(time.Millisecond), timeout)
	}
	if n := tap.BytesUp() - s3Before; n != 0 {
		t.Errorf("%d bytes reached S3 while Redis was silent, want 0", n)
	}
}

// TestRedisSlow: Redis answers, but later than redis.timeout (toxiproxy latency). Requests
// answer 503 within about the timeout; a hit whose script ran but whose reply came too late is
// lost (fail closed), never served; afterwards no token has served more than max_hits.
func TestRedisSlow(t *testing.T) {
	env := newEnv(t, false)
	env.putDirect(t, "slow/obj", []byte("payload"))
	tox := testenv.StartToxiproxy(t)
	rp := tox.Proxy(t, "redis", env.Redis.Addr)
	const timeout = 300 * time.Millisecond
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		section(cfg, "redis")["addr"] = rp.Addr
		section(cfg, "redis")["timeout"] = timeout.String()
	}))
	c := client{t, gw.URL}
	const maxHits = 3
	toks := make([]string, 4)
	for i := range toks {
		toks[i] = c.mint(fmt.Sprintf(`{"bucket":"assets","key":"slow/obj","method":"GET","max_hits":%d}`, maxHits))
	}
	served := make(map[string]int)
	var mu sync.Mutex
	hc := &http.Client{Timeout: 10 * time.Second}
	hit := func(tok string) outcome {
		o := try(hc, "GET", gw.URL+"/object/"+tok, nil)
		if o.status == 200 {
			mu.Lock()
			served[tok]++
			mu.Unlock()
		}
		return o
	}
	// One hit on the first token before the fault.
	if o := hit(toks[0]); o.status != 200 {
		t.Fatalf("GET before the fault: %s", o)
	}

	rp.AddToxic(t, testenv.Toxic{Name: "slow", Type: "latency", Stream: "downstream",
		Attributes: map[string]any{"latency": 2 * timeout.Milliseconds()}})
	var wg sync.WaitGroup
	var worst time.Duration
	var unavailable atomic.Int32
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := hit(toks[i%len(toks)])
			mu.Lock()
			worst = max(worst, o.took)
			mu.Unlock()
			switch {
			case o.status == 503 && o.code == "store_unavailable":
				unavailable.Add(1)
			default:
				t.Errorf("GET with Redis slower than the timeout: got %s, want 503 store_unavailable", o)
			}
			if o.took > time.Second {
				t.Errorf("GET with Redis slow: answered after %s, want within 1s", o.took)
			}
		}()
	}
	wg.Wait()
	rp.RemoveToxic(t, "slow")

	// Counted while slow: hits whose script ran although the client got 503.
	lost := 0
	for i, tok := range toks {
		used := c.usedHits(tok)
		if i == 0 {
			used--
		}
		lost += used
	}
	// Drain every token: it must stop at max_hits, counting what was served before.
	for _, tok := range toks {
		for range maxHits + 1 {
			if o := hit(tok); o.status != 200 {
				if o.status != 409 || o.code != "hits_exceeded" {
					t.Fatalf("draining after the fault: got %s, want 200 or 409 hits_exceeded", o)
				}
				break
			}
		}
	}
	for _, tok := range toks {
		used := c.usedHits(tok)
		if served[tok] > maxHits || used > maxHits || used < served[tok] {
			t.Errorf("token %s…: served %d, used_hits %d; want served ≤ used_hits ≤ max_hits %d", tok[:6], served[tok], used, maxHits)
		}
	}
	t.Logf("Redis answering after %s (timeout %s): %d/40 GETs answered 503 (slowest %s); %d hits counted "+
		"although the client got 503 (fail closed), none over-served", 2*timeout, timeout,
		unavailable.Load(), worst.Round(time.Millisecond), lost)
}

// TestRedisKilledUnderLoad: Redis with appendfsync always is killed with SIGKILL and restarted
// while clients mint tokens and download through them. Every token acknowledged with 201 is
// still there afterwards, and no token serves more than max_hits.
func TestRedisKilledUnderLoad(t *testing.T) {
	env := newEnv(t, false) // appendonly yes, appendfsync always
	env.putDirect(t, "aof/obj", []byte("payload"))
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		section(cfg, "redis")["timeout"] = "500ms"
	}))
	const maxHits = 2
	var (
		mu       sync.Mutex
		acked    []string
		served   = map[string]int{}
		statuses = map[int]int{}
		others   []string
	)
	record := func(o outcome) {
		mu.Lock()
		defer mu.Unlock()
		statuses[o.status]++
		if o.status != 200 && o.status != 201 && o.status != 409 && o.status != 503 && len(others) < 10 {
			others = append(others, o.String())
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer hc.CloseIdleConnections()
	const workers = 8
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := customToken(fmt.Sprintf("aof-w%d", w), i)
				o := try(hc, "POST", gw.URL+"/token",
					strings.NewReader(fmt.Sprintf(`{"token":%q,"bucket":"assets","key":"aof/obj","method":"GET","max_hits":%d}`, tok, maxHits)),
					"Authorization", "Bearer "+controlToken)
				record(o)
				if o.status == 503 {
					time.Sleep(10 * time.Millisecond) // a client backing off, as Retry-After asks
				}
				if o.status != 201 {
					continue
				}
				mu.Lock()
				acked = append(acked, tok)
				mu.Unlock()
				for range maxHits + 1 {
					o := try(hc, "GET", gw.URL+"/object/"+tok, nil)
					record(o)
					if o.status == 200 {
						mu.Lock()
						served[tok]++
						mu.Unlock()
					}
				}
			}
		}()
	}
	count := func(f func() int) func() int {
		return func() int { mu.Lock(); defer mu.Unlock(); return f() }
	}
	ackedN := count(func() int { return len(acked) })
	unavailableN := count(func() int { return statuses[503] })
	abort := func(msg string) {
		close(stop)
		wg.Wait()
		t.Fatal(msg)
	}
	// Load first, then the crash while it runs.
	if !pollUntil(10*time.Second, func() bool { return ackedN() >= 50 }) {
		abort("fewer than 50 tokens minted in 10s before the crash")
	}
	env.Redis.Stop() // SIGKILL
	killedAt := time.Now()
	// The clients meet the dead Redis for half a second, then it comes back with its AOF.
	if !pollUntil(10*time.Second, func() bool { return unavailableN() >= 2*workers && time.Since(killedAt) >= 500*time.Millisecond }) {
		abort("no 503s within 10s of the crash")
	}
	env.Redis.Restart(t)
	restarted := time.Now()
	before := ackedN()
	if !pollUntil(10*time.Second, func() bool { return ackedN() > before }) {
		abort("no token minted within 10s of the restart")
	}
	firstOK := time.Now()
	// The load goes on for a while on the recovered Redis.
	if !pollUntil(10*time.Second, func() bool { return ackedN() >= before+50 }) {
		abort("fewer than 50 tokens minted in 10s after the restart")
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(others) > 0 {
		t.Errorf("unexpected answers (want only 200, 201, 409, 503): %v", others)
	}
	if statuses[503] == 0 {
		t.Errorf("no 503 during the crash: the fault did not bite (statuses %v)", statuses)
	}
	lost, over := 0, 0
	for _, tok := range acked {
		o := try(plainClient(5*time.Second), "GET", gw.URL+"/token/"+tok, nil, "Authorization", "Bearer "+controlToken)
		if o.status != 200 {
			lost++
			if lost <= 5 {
				t.Errorf("token acknowledged with 201 is gone after the restart: %s", o)
			}
			continue
		}
		var rec struct {
			UsedHits int `json:"used_hits"`
		}
		_ = json.Unmarshal(o.body, &rec)
		if rec.UsedHits < served[tok] {
			t.Errorf("token %s…: served %d but used_hits %d: a counted hit was lost", tok[:12], served[tok], rec.UsedHits)
		}
		// Drain: whatever is left may be served, never past max_hits.
		for range maxHits + 1 {
			o := try(plainClient(5*time.Second), "GET", gw.URL+"/object/"+tok, nil)
			if o.status != 200 {
				break
			}
			served[tok]++
		}
		if served[tok] > maxHits {
			over++
			t.Errorf("token %s… served %d times, max_hits %d", tok[:12], served[tok], maxHits)
		}
	}
	t.Logf("Redis SIGKILLed under load, restarted %s later, first 201 %s after the restart; "+
		"%d tokens acknowledged, %d lost, %d over-served; statuses during the run %v",
		restarted.Sub(killedAt).Round(time.Millisecond), firstOK.Sub(restarted).Round(time.Millisecond),
		len(acked), lost, over, statuses)
}

// faultEnv is a gateway whose "assets" bucket is reached through toxiproxy, with a webhook
// receiver and one callback worker (deliveries in order).
type faultEnv struct {
	env *Env
	s3  *testenv.Proxy
	rc  *receiver
	gw  *Gateway
	c   client
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	f := &faultEnv{env: newEnv(t, false), rc: newReceiver(t)}
	tox := testenv.StartToxiproxy(t)
	f.s3 = tox.Proxy(t, "s3", endpointHost(t, f.env.S3.Endpoint))
	f.gw = startGateway(t, f.env.Config(withEndpoint(f.s3.Addr, withWebhooks("100ms"), func(cfg map[string]any) {
		section(cfg, "callback")["workers"] = 1
	})))
	f.c = client{t, f.gw.URL}
	return f
}

// eventFor returns the delivered webhook body with the given request id, if any.
func (rc *receiver) eventFor(requestID string) (map[string]any, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, b := range rc.events {
		var ev map[string]any
		if json.Unmarshal(b, &ev) == nil && ev["request_id"] == requestID {
			return ev, true
		}
	}
	return nil, false
}

// waitEvent polls until the event with requestID is delivered.
func (rc *receiver) waitEvent(t *testing.T, requestID string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, ok := rc.eventFor(requestID); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no webhook for request %s within %s", requestID, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestS3ResetBeforeHeaders: S3 resets every connection before answering → 502 upstream_error,
// the hit is handed back, no webhook; once S3 behaves, the same token serves.
func TestS3ResetBeforeHeaders(t *testing.T) {
	f := newFaultEnv(t)
	f.env.putDirect(t, "reset/obj", []byte("payload"))
	tok := f.c.mint(fmt.Sprintf(`{"bucket":"assets","key":"reset/obj","method":"GET","max_hits":1,"callback":%q}`, f.rc.srv.URL+"/hook"))

	f.s3.AddToxic(t, testenv.Toxic{Name: "reset", Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}})
	o := try(plainClient(30*time.Second), "GET", f.gw.URL+"/object/"+tok, nil, "X-Request-Id", "reset-get")
	if o.status != 502 || o.code != "upstream_error" {
		t.Fatalf("GET with S3 resetting: got %s, want 502 upstream_error", o)
	}
	if got := f.c.usedHits(tok); got != 0 {
		t.Fatalf("used_hits after the reset: got %d, want 0 (refunded)", got)
	}
	f.s3.RemoveToxic(t, "reset")

	o2 := try(plainClient(30*time.Second), "GET", f.gw.URL+"/object/"+tok, nil, "X-Request-Id", "reset-retry")
	if o2.status != 200 || string(o2.body) != "payload" {
		t.Fatalf("retry after S3 recovered: got %s, want 200 with the refunded hit", o2)
	}
	f.rc.waitEvent(t, "reset-retry", 10*time.Second)
	if _, ok := f.rc.eventFor("reset-get"); ok {
		t.Fatal("a webhook was sent for the GET that S3 reset")
	}
	t.Logf("S3 reset before headers: 502 upstream_error after %s, hit refunded, no webhook", o.took.Round(time.Millisecond))
}

// TestS3CutMidBody: S3 closes the connection after 1 MiB of a 4 MiB object. The client got
// 200 with Content-Length 4 MiB, so the only honest signal left is a cut connection: it
// reads a short body and an error, never a clean end. The hit is refunded (nothing usable was
// delivered) and no webhook is sent.
func TestS3CutMidBody(t *testing.T) {
	f := newFaultEnv(t)
	content := randomBytes(4 << 20)
	f.env.putDirect(t, "cut/obj", content)
	tok := f.c.mint(fmt.Sprintf(`{"bucket":"assets","key":"cut/obj","method":"GET","max_hits":1,"callback":%q}`, f.rc.srv.URL+"/hook"))

	f.s3.AddToxic(t, testenv.Toxic{Name: "cut", Type: "limit_data", Stream: "downstream", Attributes: map[string]any{"bytes": 1 << 20}})
	req, _ := http.NewRequest("GET", f.gw.URL+"/object/"+tok, nil)
	req.Header.Set("X-Request-Id", "cut-get")
	resp, err := plainClient(30 * time.Second).Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	got, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(content)) {
		t.Fatalf("GET: got %d with length %d, want the 200 headers for %d bytes", resp.StatusCode, resp.ContentLength, len(content))
	}
	if readErr == nil || len(got) >= len(content) {
		t.Fatalf("GET cut by S3: read %d bytes, error %v; want a short body and an error", len(got), readErr)
	}
	f.s3.RemoveToxic(t, "cut")
	f.c.waitUsedHits(tok, 0, 5*time.Second)

	// A HEAD after the failure is delivered in order behind anything the GET queued.
	if o := try(plainClient(10*time.Second), "HEAD", f.gw.URL+"/object/"+tok, nil, "X-Request-Id", "cut-probe"); o.status != 200 {
		t.Fatalf("HEAD: %s", o)
	}
	f.rc.waitEvent(t, "cut-probe", 10*time.Second)
	if _, ok := f.rc.eventFor("cut-get"); ok {
		t.Fatal("a success webhook was sent for the GET that S3 cut")
	}
	o := try(plainClient(30*time.Second), "GET", f.gw.URL+"/object/"+tok, nil)
	if o.status != 200 || !bytes.Equal(o.body, content) {
		t.Fatalf("retry: got %d and %d bytes, want 200 and the whole object", o.status, len(o.body))
	}
	t.Logf("S3 cut after 1 MiB: client read %d of %d bytes then %v; hit refunded, no webhook", len(got), len(content), readErr)
}

// TestS3Stall: S3 accepts the request and never answers. The handler waits as long as the
// alias's response timeout allows (per attempt, objstore.ReadAttempts attempts), then answers
// 502 upstream_error and hands the hit back. The shipped default is 20 s per attempt — too
// long for a test — so this runs the real api and proxy in-process with the same Redis, MinIO
// and toxiproxy, and a response timeout of 1 s.
func TestS3Stall(t *testing.T) {
	env := newEnv(t, false)
	env.putDirect(t, "stall/obj", []byte("payload"))
	tox := testenv.StartToxiproxy(t)
	s3p := tox.Proxy(t, "s3", endpointHost(t, env.S3.Endpoint))
	const headerTimeout = time.Second
	backend, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Bucket: env.Bucket, Region: env.S3.Region, Endpoint: "http://" + s3p.Addr, ForcePathStyle: true,
		AccessKey: env.S3.AccessKey, SecretKey: env.S3.SecretKey, PartSize: objstore.MinPartSize, PartConcurrency: 1,
		ResponseTimeout: headerTimeout, UploadBudget: objstore.NewUploadBudget(objstore.MinPartSize),
	})
	if err != nil {
		t.Fatal(err)
	}
	rdb := token.NewRedisClient(token.ClientOptions{Addr: env.Redis.Addr, Timeout: time.Second})
	store := token.NewRedisStore(token.RedisOptions{Client: rdb, KeyPrefix: "ag:", Retention: time.Hour})
	defer store.Close()
	objects := proxy.New(proxy.Options{Store: store, Buckets: map[string]objstore.Backend{"assets": backend}})
	srv := httptest.NewServer(api.New(api.Options{
		MaxBody: 1 << 20,
		Tokens:  store, Objects: objects, Buckets: map[string]api.Bucket{"assets": backend},
		ControlTokens: []string{controlToken}, Host: "https://gw.example.com", MaxTTL: time.Hour,
	}))
	defer srv.Close()
	c := client{t, srv.URL}
	tok := c.mint(`{"bucket":"assets","key":"stall/obj","method":"GET","max_hits":1}`)

	s3p.AddToxic(t, testenv.Toxic{Name: "stall", Type: "timeout", Stream: "upstream", Attributes: map[string]any{"timeout": 0}})
	o := try(plainClient(60*time.Second), "GET", srv.URL+"/object/"+tok, nil)
	if o.status != 502 || o.code != "upstream_error" {
		t.Fatalf("GET with S3 stalled: got %s, want 502 upstream_error", o)
	}
	// 3 attempts of headerTimeout, plus the SDK's jittered backoff between them (under 2 s,
	// then under 4 s), plus a second of slack.
	if bound := 3*headerTimeout + 7*time.Second; o.took > bound {
		t.Errorf("GET with S3 stalled: answered after %s, want within %s", o.took, bound)
	}
	if got := c.usedHits(tok); got != 0 {
		t.Fatalf("used_hits after the stall: got %d, want 0 (refunded)", got)
	}
	s3p.RemoveToxic(t, "stall")
	if o := try(plainClient(30*time.Second), "GET", srv.URL+"/object/"+tok, nil); o.status != 200 {
		t.Fatalf("retry after S3 recovered: got %s, want 200", o)
	}
	t.Logf("S3 stalled: 502 upstream_error after %s with a %s response-header timeout, hit refunded",
		o.took.Round(time.Millisecond), headerTimeout)
}

// TestClientGoneMidDownload: a client reads 1 MiB of a 64 MiB download and disconnects. The
// gateway's request to S3 is cancelled (its connection closes) within 1 s, the gateway's
// goroutines return to their baseline, and the hit stays used (bytes were delivered).
func TestClientGoneMidDownload(t *testing.T) {
	env := newEnv(t, false)
	content := randomBytes(64 << 20)
	env.putDirect(t, "gone/big", content)
	tap := testenv.StartTap(t, endpointHost(t, env.S3.Endpoint))
	debugPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := fmt.Sprintf("127.0.0.1:%d", debugPort)
	gw := startGatewayArgs(t, env.Config(withEndpoint(tap.Addr)), "-debug-addr", debugAddr)
	c := client{t, gw.URL}
	tok := c.mint(`{"bucket":"assets","key":"gone/big","method":"GET","max_hits":5}`)
	http.DefaultClient.CloseIdleConnections()
	baseline := waitGoroutinesStable(t, debugAddr)

	conn, err := net.Dial("tcp", endpointHost(t, gw.URL))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /object/%s HTTP/1.1\r\nHost: gw\r\n\r\n", tok)
	if _, err := io.ReadFull(conn, make([]byte, 1<<20)); err != nil {
		t.Fatalf("reading the first MiB: %v", err)
	}
	if tap.Active() != 1 {
		t.Fatalf("S3 connections open during the download: got %d, want 1", tap.Active())
	}
	conn.(*net.TCPConn).SetLinger(0) // leave like a killed client: RST
	conn.Close()
	gone := time.Now()
	closed, ok := tap.WaitActive(0, 5*time.Second)
	if !ok {
		t.Fatalf("the S3 request was not cancelled within 5s of the client leaving (%d connections open)", tap.Active())
	}
	cancelled := closed.Sub(gone)
	if cancelled > time.Second {
		t.Errorf("S3 request cancelled %s after the client left, want within 1s", cancelled)
	}
	delivered := tap.BytesDown()
	after := waitGoroutines(t, debugAddr, baseline, 5*time.Second)
	if got := c.usedHits(tok); got != 1 {
		t.Errorf("used_hits: got %d, want 1 (an abandoned download keeps its hit)", got)
	}
	t.Logf("client left after 1 MiB: S3 connection closed %s later (%d MiB read from S3 in all); goroutines %d before, %d after",
		cancelled.Round(time.Millisecond), delivered>>20, baseline, after)
}

// waitGoroutinesStable returns the gateway's goroutine count once two reads 200 ms apart agree.
func waitGoroutinesStable(t *testing.T, debugAddr string) int {
	t.Helper()
	prev := goroutines(t, debugAddr)
	for range 50 {
		time.Sleep(200 * time.Millisecond)
		n := goroutines(t, debugAddr)
		if n == prev {
			return n
		}
		prev = n
	}
	t.Fatalf("goroutine count never settled (last %d)", prev)
	return 0
}

// waitGoroutines polls until the count is at most want, failing after within.
func waitGoroutines(t *testing.T, debugAddr string, want int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := goroutines(t, debugAddr)
		if n <= want {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d after %s, want back at the baseline %d", n, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClientGoneMidUpload: a client sends 11 of 12 MiB and disconnects, with a declared
// length (one streaming PutObject under way) and chunked (a multipart upload under way). Nothing is stored, no multipart
// upload is left open, and the hit is handed back so the client can upload again.
func TestClientGoneMidUpload(t *testing.T) {
	env := newEnv(t, false)
	tap := testenv.StartTap(t, endpointHost(t, env.S3.Endpoint))
	gw := startGateway(t, env.Config(withEndpoint(tap.Addr)))
	c := client{t, gw.URL}
	content := randomBytes(12 << 20)
	for _, chunked := range []bool{false, true} {
		name := map[bool]string{false: "content-length", true: "chunked"}[chunked]
		t.Run(name, func(t *testing.T) {
			key := "gone/upload-" + name
			tok := c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"PUT"}`, key))
			conn, err := net.Dial("tcp", endpointHost(t, gw.URL))
			if err != nil {
				t.Fatal(err)
			}
			// Chunked, the gateway fills two 5 MiB parts before it starts the multipart upload.
			sent := content[:11<<20]
			atS3 := tap.BytesUp()
			if chunked {
				fmt.Fprintf(conn, "PUT /object/%s HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n", tok)
				for off := 0; off < len(sent); off += 1 << 20 {
					fmt.Fprintf(conn, "%x\r\n", 1<<20)
					conn.Write(sent[off : off+1<<20])
					conn.Write([]byte("\r\n"))
				}
			} else {
				fmt.Fprintf(conn, "PUT /object/%s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", tok, len(content))
				conn.Write(sent)
			}
			// The client vanishes once the upload is under way at S3 (a part, or the stream).
			if !pollUntil(10*time.Second, func() bool { return tap.BytesUp()-atS3 >= 5<<20 }) {
				t.Fatalf("only %d bytes reached S3 in 10s", tap.BytesUp()-atS3)
			}
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()

			c.waitUsedHits(tok, 0, 10*time.Second)
			if err := env.objectAbsent(key); err != nil {
				t.Fatal(err)
			}
			resp, body := c.do("PUT", "/object/"+tok, bytes.NewReader(content))
			if resp.StatusCode != 200 {
				t.Fatalf("upload again with the refunded hit: got %d %s", resp.StatusCode, body)
			}
		})
	}
}
