package api_test

// Hostile token holders and strangers at the /object and control edges (issue "Safe at the
// edges"): active content, client binding before hits, segment-bound prefixes, deceptive file
// names, a client that half-closes an upload, a client that leaves during a store call.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
)

// upload stores body under key through a fresh PUT token.
func (f *fixture) upload(key, contentType, body string) {
	f.t.Helper()
	put := f.mint(map[string]any{"method": "PUT", "key": key})
	expectJSON(f.t, f.do("PUT", "/object/"+put, body, "Content-Type", contentType), http.StatusOK, nil)
}

// TestActiveContentSandboxed: an object that could run script on the gateway's origin (HTML,
// SVG, XML, JavaScript, an empty type) is served with a sandboxing CSP and as an attachment
// unless the token asked for inline (then still sandboxed); passive types are served as they
// are; disposition "attachment" holds without a file name.
func TestActiveContentSandboxed(t *testing.T) {
	f := newFixture(t)
	const sandbox = "sandbox; default-src 'none'"
	for _, tc := range []struct {
		name, contentType, disposition string
		wantCSP                        bool
		wantDisposition                string
	}{
		{"html", "text/html; charset=utf-8", "", true, "attachment"},
		{"html inline", "text/html", "inline", true, "inline"},
		{"svg", "image/svg+xml", "", true, "attachment"},
		{"xhtml", "application/xhtml+xml", "", true, "attachment"},
		{"xml", "application/rss+xml", "", true, "attachment"},
		{"javascript", "text/javascript", "", true, "attachment"},
		{"named nothing", "unknown/unknown", "", true, "attachment"},
		{"png", "image/png", "", false, ""},
		{"video", "video/mp4", "inline", false, "inline"},
		{"text", "text/plain", "", false, ""},
		{"attachment without a file name", "image/png", "attachment", false, "attachment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "active/" + strings.ReplaceAll(tc.name, " ", "-")
			f.upload(key, tc.contentType, "<script>parent.pwned = 1</script>")
			fields := map[string]any{"method": "GET", "key": key}
			if tc.disposition != "" {
				fields["disposition"] = tc.disposition
			}
			get := f.mint(fields)
			for _, method := range []string{"GET", "HEAD"} {
				resp := f.do(method, "/object/"+get, nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %d", method, resp.StatusCode)
				}
				if csp := resp.Header.Get("Content-Security-Policy"); (csp == sandbox) != tc.wantCSP {
					t.Errorf("%s Content-Security-Policy %q, want sandboxed %v", method, csp, tc.wantCSP)
				}
				if cd := resp.Header.Get("Content-Disposition"); cd != tc.wantDisposition {
					t.Errorf("%s Content-Disposition %q, want %q", method, cd, tc.wantDisposition)
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%s: no nosniff", method)
				}
			}
		})
	}
}

// TestWildcardNeverAdmitsActive: "image/*" admits image/png but not image/svg+xml (listed by
// name it is admitted); a refused upload reserves no hit.
func TestWildcardNeverAdmitsActive(t *testing.T) {
	f := newFixture(t)
	put := f.mint(map[string]any{"method": "PUT", "key": "u/pic", "content_types": []string{"image/*"}})
	expectError(t, f.do("PUT", "/object/"+put, "<svg onload=alert(1)/>", "Content-Type", "image/svg+xml"), 415, "unsupported_media_type")
	expectError(t, f.do("PUT", "/object/"+put, "x", "Content-Type", "text/html"), 415, "unsupported_media_type")
	if rec := f.record(put); rec["used_hits"] != 0.0 {
		t.Fatalf("used_hits after refused uploads: %v, want 0", rec["used_hits"])
	}
	expectJSON(t, f.do("PUT", "/object/"+put, "png", "Content-Type", "image/png"), 200, nil)
	svg := f.mint(map[string]any{"method": "PUT", "key": "u/vector", "content_types": []string{"image/svg+xml"}})
	expectJSON(t, f.do("PUT", "/object/"+svg, "<svg/>", "Content-Type", "image/svg+xml"), 200, nil)
}

// TestClientBindingBeforeHits: a client outside a token's addresses gets 403 whatever the
// token's state — live, exhausted, expired — and never reserves a hit, so the owner never sees
// 409 because of it.
func TestClientBindingBeforeHits(t *testing.T) {
	f := newFixture(t)
	f.upload("bound/obj", "text/plain", "payload")
	outside := f.mint(map[string]any{"method": "GET", "key": "bound/obj", "max_hits": 1, "ip": []string{"10.0.0.0/8"}})
	for range 5 {
		expectError(t, f.do("GET", "/object/"+outside, nil), 403, "forbidden")
	}
	if rec := f.record(outside); rec["used_hits"] != 0.0 {
		t.Fatalf("used_hits after refused clients: %v, want 0", rec["used_hits"])
	}
	// Exhausted by its own client (here: the loopback the test runs on), the token still
	// tells an outsider nothing but 403.
	mine := f.mint(map[string]any{"method": "GET", "key": "bound/obj", "max_hits": 1, "ip": []string{"127.0.0.1", "10.0.0.0/8"}})
	if resp := f.do("GET", "/object/"+mine, nil); resp.StatusCode != 200 {
		t.Fatalf("GET from a bound address: %d", resp.StatusCode)
	}
	expectError(t, f.do("GET", "/object/"+mine, nil), 409, "hits_exceeded")
	f.clock.Advance(time.Hour)
	expectError(t, f.do("GET", "/object/"+outside, nil), 403, "forbidden")
	expectError(t, f.do("GET", "/object/"+mine, nil), 410, "token_expired")
}

// TestMintRefusals: a presigned URL cannot enforce an address, and a file name must not
// deceive (a bidi override shows "invoice‮fdp.exe" as "invoiceexe.pdf").
func TestMintRefusals(t *testing.T) {
	f := newFixture(t, func(o *api.Options) { o.Redirects = map[string]bool{"local": true} })
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"redirect with ip", map[string]any{"method": "GET", "delivery": "redirect", "ip": []string{"10.0.0.1"}}, "delivery: redirect cannot be bound"},
		{"bidi override", map[string]any{"method": "GET", "filename": "invoice\u202efdp.exe"}, "filename: contains Unicode format characters"},
		{"zero-width space", map[string]any{"method": "GET", "filename": "report\u200b.pdf"}, "filename: contains Unicode format characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"bucket": "local", "key": "k"}
			for k, v := range tc.fields {
				body[k] = v
			}
			msg := expectError(t, f.control("POST", "/token", mustJSON(t, body)), 400, "bad_request")
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want it to say %q", msg, tc.want)
			}
		})
	}
}

// TestPrefixWholeSegments: prefix "pub" serves "pub/x", never "pubsecret", and lists only
// its folder.
func TestPrefixWholeSegments(t *testing.T) {
	f := newFixture(t)
	f.upload("pub/x", "text/plain", "public")
	f.upload("pubsecret", "text/plain", "secret")
	f.upload("pubsecret2/y", "text/plain", "secret")
	get := f.mint(map[string]any{"method": "GET", "key": "", "prefix": "pub"})
	resp := f.do("GET", "/object/"+get+"/x", nil)
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "public" {
		t.Fatalf("GET pub/x: %d %q", resp.StatusCode, body)
	}
	expectError(t, f.do("GET", "/object/"+get+"/secret", nil), 404, "object_not_found")
	expectError(t, f.do("GET", "/object/"+get+"/secret2/y", nil), 404, "object_not_found")
	list := f.mint(map[string]any{"method": "LIST", "key": "", "prefix": "pub"})
	var page struct {
		Objects []struct{ Key string }
	}
	expectJSON(t, f.do("GET", "/object/"+list, nil), 200, &page)
	if len(page.Objects) != 1 || page.Objects[0].Key != "x" {
		t.Fatalf("listing of prefix pub: %+v, want only x", page.Objects)
	}
}

// TestPutHalfCloseAborts: a client that sends part of a declared body, then shuts its side
// down, gets no 200, and nothing is stored.
func TestPutHalfCloseAborts(t *testing.T) {
	f := newFixture(t)
	put := f.mint(map[string]any{"method": "PUT", "key": "half/obj"})
	for _, framing := range []string{"Content-Length: 1000\r\n", "Transfer-Encoding: chunked\r\n"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		body := strings.Repeat("x", 500)
		if strings.HasPrefix(framing, "Transfer") {
			body = "1f4\r\n" + body + "\r\n" // one chunk, then no terminating chunk
		}
		req := "PUT /object/" + put + " HTTP/1.1\r\nHost: gw\r\n" + framing + "\r\n" + body
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			t.Fatalf("%s: a half-closed upload was answered 200", strings.TrimSpace(framing))
		}
	}
	get := f.mint(map[string]any{"method": "GET", "key": "half/obj"})
	expectError(t, f.do("GET", "/object/"+get, nil), 404, "object_not_found")
	if rec := f.record(put); rec["used_hits"] != 0.0 || rec["uploaded"] == true {
		t.Fatalf("after half-closed uploads: %v, want no hit used, nothing uploaded", rec)
	}
}

// TestClientGoneDuringStoreCall: a client that leaves while the token store answers is
// logged 499 (it left), not 500.
func TestClientGoneDuringStoreCall(t *testing.T) {
	var mu sync.Mutex
	var logs bytes.Buffer
	logged := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	f := newFixture(t, func(o *api.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
	})
	f.store.stall.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/object/any-token-0123456789abcdef", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the request was answered %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logged(), `"status":499`) {
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line with status 499:\n%s", logged())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(logged(), `"status":500`) {
		t.Fatalf("logged as 500:\n%s", logged())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// silentResolver never answers: every lookup waits for its deadline (a resolver that is
// down, names that do not resolve).
type silentResolver struct{ lookups atomic.Int64 }

func (s *silentResolver) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	s.lookups.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestBatchCallbacksResolveAtOnce: POST /tokens with 1000 items whose callback hosts never
// resolve answers within seconds (hosts looked up concurrently, each once, under one
// deadline), naming every item's callback.
func TestBatchCallbacksResolveAtOnce(t *testing.T) {
	resolver := &silentResolver{}
	f := newFixture(t, func(o *api.Options) {
		o.Callbacks = &callback.Guard{Resolver: resolver}
		o.MaxBody = 1 << 20
	})
	items := make([]map[string]any, 1000)
	for i := range items {
		// 500 hosts, each used twice: looked up once each.
		items[i] = map[string]any{"bucket": "local", "key": "k", "method": "GET",
			"callback": fmt.Sprintf("https://hook-%d.example.invalid/in", i%500)}
	}
	start := time.Now()
	msg := expectError(t, f.control("POST", "/tokens", mustJSON(t, map[string]any{"tokens": items})), 400, "bad_request")
	took := time.Since(start)
	if took > 10*time.Second {
		t.Errorf("POST /tokens took %s, want at most 10 s", took)
	}
	if !strings.Contains(msg, "tokens[0].callback: host does not resolve") || !strings.Contains(msg, "… and 950 more") {
		t.Errorf("message %.200q…, want every item's callback named", msg)
	}
	if n := resolver.lookups.Load(); n > 500 {
		t.Errorf("%d lookups for 500 hosts, want each host once", n)
	}
	t.Logf("1000 items, 500 silent hosts: 400 after %s, %d lookups", took.Round(time.Millisecond), resolver.lookups.Load())
}
