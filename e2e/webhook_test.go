package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is a real webhook receiver on 127.0.0.1 that verifies signatures.
type receiver struct {
	srv    *httptest.Server
	status atomic.Int32 // what to answer; 0 means 204

	mu         sync.Mutex
	deliveries map[string]int             // webhook-id → 2xx-answered deliveries
	attempts   map[string]int             // webhook-id → all attempts
	events     map[string]json.RawMessage // webhook-id → body
	badSig     int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{deliveries: map[string]int{}, attempts: map[string]int{}, events: map[string]json.RawMessage{}}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(webhookSecret, "whsec_"))
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		status := int(rc.status.Load())
		if status == 0 {
			status = http.StatusNoContent
		}
		rc.mu.Lock()
		rc.attempts[id]++
		if !strings.Contains(" "+r.Header.Get("webhook-signature")+" ", " "+want+" ") {
			rc.badSig++
		}
		if status < 300 {
			rc.deliveries[id]++
			rc.events[id] = body
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// delivered returns how many distinct events were delivered, and the most any was delivered.
func (rc *receiver) delivered() (distinct, maxPerID, badSig int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.deliveries {
		maxPerID = max(maxPerID, n)
	}
	return len(rc.deliveries), maxPerID, rc.badSig
}

// waitDelivered polls until n distinct events arrived or the deadline passes.
func (rc *receiver) waitDelivered(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, _, _ := rc.delivered()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d distinct deliveries after %s, want %d", got, within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func withWebhooks(retries ...string) func(map[string]any) {
	return func(cfg map[string]any) {
		cb := section(cfg, "callback")
		cb["secret"] = webhookSecret
		cb["retries"] = retries
	}
}

// TestWebhookSignedAndExact: every access of a token with a callback is delivered once,
// signed, with the seed's body.
func TestWebhookSignedAndExact(t *testing.T) {
	env := newEnv(t, false)
	rc := newReceiver(t)
	gw := startGateway(t, env.Config(withWebhooks("100ms")))
	c := client{t, gw.URL}
	put := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"hooks/a.txt","method":"PUT","callback":%q}`, rc.srv.URL+"/hook?src=e2e"))
	if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("hello"), "Content-Type", "text/plain", "User-Agent", "e2e/1", "X-Request-Id", "req-put-1"); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	rc.waitDelivered(t, 1, 10*time.Second)
	rc.mu.Lock()
	var body map[string]any
	for _, b := range rc.events {
		_ = json.Unmarshal(b, &body)
	}
	rc.mu.Unlock()
	want := map[string]any{"event": "asset.access", "method": "PUT", "status": 200.0, "bucket": "assets", "key": "hooks/a.txt",
		"size": 5.0, "etag": "5d41402abc4b2a76b9719d911017c592", "range": "", "client_ip": "127.0.0.1",
		"user_agent": "e2e/1", "referer": "", "request_id": "req-put-1"}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s: got %v, want %v", k, body[k], v)
		}
	}
	if len(body) != 13 {
		t.Errorf("body has %d fields, want the seed's 13: %v", len(body), body)
	}
	if _, _, bad := rc.delivered(); bad != 0 {
		t.Fatalf("%d deliveries with a bad signature", bad)
	}
}

// TestWebhooksSurviveSIGKILL: with the receiver down, 100 events are queued; the gateway is
// killed with SIGKILL; after a restart (receiver up) every one of the 100 is delivered.
func TestWebhooksSurviveSIGKILL(t *testing.T) {
	env := newEnv(t, false)
	rc := newReceiver(t)
	rc.status.Store(http.StatusServiceUnavailable)
	gw := startGateway(t, env.Config(withWebhooks("1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s")))
	c := client{t, gw.URL}
	put := c.mint(`{"bucket":"assets","key":"hooks/k.txt","method":"PUT"}`)
	if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("x")); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	get := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"hooks/k.txt","method":"GET","callback":%q}`, rc.srv.URL+"/hook"))
	for i := range 100 {
		if resp, _ := c.do("GET", "/object/"+get, nil, "X-Request-Id", fmt.Sprintf("kill-%03d", i)); resp.StatusCode != 200 {
			t.Fatalf("GET %d: %d", i, resp.StatusCode)
		}
	}
	gw.Kill()
	if got, _, _ := rc.delivered(); got != 0 {
		t.Fatalf("%d events delivered while the receiver was down", got)
	}
	rc.status.Store(0)
	gw.start(t)
	rc.waitDelivered(t, 100, 60*time.Second)
	rc.mu.Lock()
	ids := map[string]bool{}
	for _, b := range rc.events {
		var ev struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(b, &ev)
		ids[ev.RequestID] = true
	}
	rc.mu.Unlock()
	for i := range 100 {
		if !ids[fmt.Sprintf("kill-%03d", i)] {
			t.Errorf("event of request kill-%03d never delivered", i)
		}
	}
}

// TestWebhooksSharedByReplicas: two gateways on one Redis deliver 200 events, each once.
func TestWebhooksSharedByReplicas(t *testing.T) {
	env := newEnv(t, false)
	rc := newReceiver(t)
	cfg := env.Config(withWebhooks("200ms"))
	gws := []*Gateway{startGateway(t, cfg), startGateway(t, cfg)}
	c := client{t, gws[0].URL}
	put := c.mint(`{"bucket":"assets","key":"hooks/r.txt","method":"PUT"}`)
	c.do("PUT", "/object/"+put, strings.NewReader("x"))
	// GETs: a HEAD fires a token's webhook at most once a minute.
	get := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"hooks/r.txt","method":"GET","callback":%q}`, rc.srv.URL+"/hook"))
	for i := range 200 {
		if resp, _ := (client{t, gws[i%2].URL}).do("GET", "/object/"+get, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %d: %d", i, resp.StatusCode)
		}
	}
	rc.waitDelivered(t, 200, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show up, if there were one
	distinct, maxPer, bad := rc.delivered()
	if distinct != 200 || maxPer != 1 || bad != 0 {
		t.Fatalf("got %d distinct, max %d per id, %d bad signatures; want 200, 1, 0", distinct, maxPer, bad)
	}
}

// TestDeadLetterReplay: a receiver answering 410 dead-letters the event at once; an operator
// lists it and replays it through the control API once the receiver is fixed.
func TestDeadLetterReplay(t *testing.T) {
	env := newEnv(t, false)
	rc := newReceiver(t)
	rc.status.Store(http.StatusGone)
	gw := startGateway(t, env.Config(withWebhooks("100ms")))
	c := client{t, gw.URL}
	auth := []string{"Authorization", "Bearer " + controlToken}
	head := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"hooks/none","method":"PUT","callback":%q}`, rc.srv.URL+"/gone"))
	c.do("PUT", "/object/"+head, strings.NewReader("x"))

	var failed struct {
		Failed []struct {
			ID         string
			Target     string
			Attempts   int
			LastStatus int `json:"last_status"`
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(failed.Failed) == 0 {
		resp, body := c.do("GET", "/callbacks/failed", nil, auth...)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /callbacks/failed: %d %s", resp.StatusCode, body)
		}
		_ = json.Unmarshal(body, &failed)
		if time.Now().After(deadline) {
			t.Fatal("no dead letter after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := failed.Failed[0]
	if f.Attempts != 1 || f.LastStatus != 410 || f.Target != rc.srv.URL+"/gone" {
		t.Fatalf("dead letter: got %+v, want one attempt, 410", f)
	}
	if resp, _ := c.do("GET", "/callbacks/failed", nil); resp.StatusCode != 401 {
		t.Fatalf("dead letters without a control token: got %d, want 401", resp.StatusCode)
	}
	rc.status.Store(0)
	if resp, body := c.do("POST", "/callbacks/failed/"+f.ID+"/retry", nil, auth...); resp.StatusCode != 202 {
		t.Fatalf("retry: %d %s", resp.StatusCode, body)
	}
	rc.waitDelivered(t, 1, 10*time.Second)
	rc.mu.Lock()
	got := rc.deliveries[f.ID]
	rc.mu.Unlock()
	if got != 1 {
		t.Fatalf("replayed event delivered %d times under its original webhook-id, want 1", got)
	}
	resp, body := c.do("POST", "/callbacks/failed/"+f.ID+"/retry", nil, auth...)
	wantCode(t, "second retry", resp, body, 404, "not_found")
}
