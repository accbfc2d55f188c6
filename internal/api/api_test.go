package api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/metrics"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/token/storetest"
)

const control = "control-token-1"

// sink is a Notifier that records events.
type sink struct {
	mu     sync.Mutex
	events []callback.Event
	urls   []string
}

func (s *sink) Enqueue(_ context.Context, target string, ev callback.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	s.urls = append(s.urls, target)
	return nil
}

// wait returns the events once there are at least n (a handler queues its event after the
// client may already have its answer), failing the test after a few seconds.
func (s *sink) wait(t *testing.T, n int) []callback.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := s.all()
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *sink) all() []callback.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]callback.Event(nil), s.events...)
}

// switchable wraps a store and can make it unreachable.
type switchable struct {
	token.Store
	down  atomic.Bool
	stall atomic.Bool // Access waits for the request's context to end
}

var errDown = fmt.Errorf("%w: test says so", token.ErrUnavailable)

func (s *switchable) Access(ctx context.Context, tok string, req token.Request) (*token.Grant, error) {
	if s.down.Load() {
		return nil, errDown
	}
	if s.stall.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Store.Access(ctx, tok, req)
}

func (s *switchable) Create(ctx context.Context, tok string, rec token.Record) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Create(ctx, tok, rec)
}

func (s *switchable) CreateMany(ctx context.Context, items []token.Item) ([]error, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.CreateMany(ctx, items)
}

// publicResolver answers every name with a public documentation-free address (the test
// machine has no DNS); literal and private targets are still judged by the real guard.
type publicResolver struct{}

func (publicResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "localhost" {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
}

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	store  *switchable
	clock  *storetest.Clock
	events *sink
}

func newFixture(t *testing.T, edits ...func(*api.Options)) *fixture {
	t.Helper()
	clock := storetest.NewClock()
	mem := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour, Now: clock.Now})
	t.Cleanup(func() { mem.Close() })
	store := &switchable{Store: mem}
	files, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	events := &sink{}
	objects := proxy.New(proxy.Options{
		Store:    store,
		Buckets:  map[string]objstore.Backend{"local": files},
		Notifier: events,
		Now:      clock.Now,
	})
	f := &fixture{t: t, store: store, clock: clock, events: events}
	o := api.Options{
		Tokens:        store,
		Objects:       objects,
		Buckets:       map[string]api.Bucket{"local": files},
		ControlTokens: []string{control, "second-control-token"},
		Host:          "https://gw.example.com/",
		MaxTTL:        7 * 24 * time.Hour,
		MaxBody:       4096,
		Callbacks:     &callback.Guard{Resolver: publicResolver{}},
		Now:           clock.Now,
	}
	for _, edit := range edits {
		edit(&o)
	}
	f.srv = httptest.NewServer(api.New(o))
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request; body may be nil, a string, or an io.Reader (sent chunked).
func (f *fixture) do(method, path string, body any, hdr ...string) *http.Response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, chunked := body.(io.Reader); chunked {
		req.ContentLength = -1
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (f *fixture) control(method, path string, body any) *http.Response {
	f.t.Helper()
	return f.do(method, path, body, "Authorization", "Bearer "+control, "Content-Type", "application/json")
}

// mint creates a token and returns it.
func (f *fixture) mint(fields map[string]any) string {
	f.t.Helper()
	body := map[string]any{"bucket": "local", "key": "k/demo.bin"}
	for k, v := range fields {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	resp := f.control("POST", "/token", string(b))
	var out struct {
		Token string `json:"token"`
	}
	expectJSON(f.t, resp, http.StatusCreated, &out)
	return out.Token
}

func (f *fixture) record(tok string) map[string]any {
	f.t.Helper()
	var out map[string]any
	expectJSON(f.t, f.control("GET", "/token/"+tok, nil), http.StatusOK, &out)
	return out
}

func expectJSON(t *testing.T, resp *http.Response, status int, v any) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: got %d %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type: got %q, want application/json", ct)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
	}
}

// expectError checks the contract's error shape and returns the message.
func expectError(t *testing.T, resp *http.Response, status int, code string) string {
	t.Helper()
	if resp.Request.Method == http.MethodHead { // no body to read the code from
		if resp.StatusCode != status || resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("HEAD %s: got %d, want %d", resp.Request.URL.Path, resp.StatusCode, status)
		}
		return ""
	}
	var e struct {
		Code, Message, RequestID string `json:"-"`
	}
	var raw map[string]string
	expectJSON(t, resp, status, &raw)
	e.Code, e.Message, e.RequestID = raw["code"], raw["message"], raw["request_id"]
	if len(raw) != 3 {
		t.Fatalf("error body: got keys %v, want code, message, request_id", raw)
	}
	if e.Code != code {
		t.Fatalf("code: got %q (%s), want %q", e.Code, e.Message, code)
	}
	if e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("request_id %q does not match X-Request-Id %q", e.RequestID, resp.Header.Get("X-Request-Id"))
	}
	return e.Message
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	var out map[string]string
	expectJSON(t, f.do("GET", "/healthz", nil), http.StatusOK, &out)
	if out["status"] != "ok" || len(out) != 1 {
		t.Fatalf("got %v, want {status: ok}", out)
	}
}

func TestControlAuth(t *testing.T) {
	f := newFixture(t)
	tok := f.mint(map[string]any{"method": "GET"})
	paths := []struct{ method, path string }{
		{"POST", "/token"}, {"GET", "/token/" + tok}, {"DELETE", "/token/" + tok},
		{"GET", "/token/" + tok + "/status"}, {"PATCH", "/token/" + tok}, {"GET", "/token/x/y/z"},
	}
	cases := []struct {
		name, header string
		status       int
		code         string
	}{
		{"missing", "", 401, "unauthorized"},
		{"basic", "Basic " + control, 401, "unauthorized"},
		{"no credential", "Bearer", 401, "unauthorized"},
		{"empty credential", "Bearer ", 401, "unauthorized"},
		{"two words", "Bearer a b", 401, "unauthorized"},
		{"unknown", "Bearer not-the-token", 403, "forbidden"},
		{"prefix of a real token", "Bearer control-token", 403, "forbidden"},
	}
	for _, c := range cases {
		for _, p := range paths {
			t.Run(c.name+" "+p.method+" "+p.path, func(t *testing.T) {
				var hdr []string
				if c.header != "" {
					hdr = []string{"Authorization", c.header}
				}
				expectError(t, f.do(p.method, p.path, nil, hdr...), c.status, c.code)
			})
		}
	}
	t.Run("scheme is case-insensitive and every configured token works", func(t *testing.T) {
		for _, h := range []string{"bearer " + control, "Bearer second-control-token"} {
			resp := f.do("GET", "/token/"+tok, nil, "Authorization", h)
			expectJSON(t, resp, http.StatusOK, nil)
		}
	})
	t.Run("401 asks for a bearer token", func(t *testing.T) {
		resp := f.do("GET", "/token/"+tok, nil)
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Fatalf("WWW-Authenticate: got %q, want Bearer…", got)
		}
	})
}

func TestCreateToken(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now().Unix()
	cases := []struct {
		name string
		body map[string]any
		want map[string]any // fields of GET /token/{token}
	}{
		{"GET defaults", map[string]any{"bucket": "local", "key": "a.txt", "method": "GET"},
			map[string]any{"max_hits": -1.0, "size": -1.0, "expire_at": float64(now + 1800), "filename": "", "callback": "", "used_hits": 0.0}},
		{"PUT defaults to one hit", map[string]any{"bucket": "local", "key": "a.txt", "method": "PUT"},
			map[string]any{"max_hits": 1.0, "size": -1.0}},
		{"HEAD", map[string]any{"bucket": "local", "key": "a.txt", "method": "HEAD"},
			map[string]any{"max_hits": -1.0}},
		{"expires_in", map[string]any{"bucket": "local", "key": "a.txt", "method": "GET", "expires_in": 60},
			map[string]any{"expire_at": float64(now + 60)}},
		{"every field", map[string]any{"bucket": "local", "key": "dir/報告.pdf", "method": "PUT", "filename": "報告 \"v2\".pdf",
			"expire_at": now + 3600, "max_hits": 3, "size": 1024, "callback": "https://example.com/hook", "token": "my-custom-token_0123456789"},
			map[string]any{"token": "my-custom-token_0123456789", "key": "dir/報告.pdf", "filename": "報告 \"v2\".pdf",
				"expire_at": float64(now + 3600), "max_hits": 3.0, "size": 1024.0, "callback": "https://example.com/hook",
				"url": "https://gw.example.com/object/my-custom-token_0123456789"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := json.Marshal(c.body)
			var created map[string]any
			expectJSON(t, f.control("POST", "/token", string(b)), http.StatusCreated, &created)
			for _, k := range []string{"token", "method", "filename", "expire_at", "url"} {
				if _, ok := created[k]; !ok {
					t.Fatalf("201 body %v lacks %q", created, k)
				}
			}
			if len(created) != 5 {
				t.Fatalf("201 body: got keys %v, want token, method, filename, expire_at, url", created)
			}
			tok := created["token"].(string)
			if !token.WellFormed(tok) || len(tok) < 22 {
				t.Fatalf("token %q: want ≥128 bits, URL-safe", tok)
			}
			if created["url"] != "https://gw.example.com/object/"+tok {
				t.Fatalf("url: got %v", created["url"])
			}
			rec := f.record(tok)
			if len(rec) != 11 {
				t.Fatalf("GET /token: got keys %v, want the 11 of the contract", rec)
			}
			for k, want := range c.want {
				if rec[k] != want {
					t.Errorf("%s: got %v, want %v", k, rec[k], want)
				}
			}
		})
	}
}

func TestCreateTokenValidation(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now().Unix()
	cases := []struct {
		name, body string
		status     int
		code       string
		mention    []string // words the message must contain
	}{
		{"not JSON", `{"bucket":`, 400, "bad_request", []string{"invalid JSON"}},
		{"empty body", ``, 400, "bad_request", []string{"empty"}},
		{"array", `[]`, 400, "bad_request", []string{"JSON"}},
		{"two values", `{"bucket":"local","key":"a","method":"GET"} {}`, 400, "bad_request", []string{"more than one"}},
		{"unknown field", `{"bucket":"local","key":"a","method":"GET","max_hit":1}`, 400, "bad_request", []string{"max_hit"}},
		{"wrong type", `{"bucket":"local","key":"a","method":"GET","max_hits":"3"}`, 400, "bad_request", []string{"max_hits", "integer"}},
		{"fractional", `{"bucket":"local","key":"a","method":"GET","size":1.5}`, 400, "bad_request", []string{"size"}},
		{"missing everything", `{}`, 400, "bad_request", []string{"bucket: required", "key: required", "method: required"}},
		{"unknown bucket", `{"bucket":"nope","key":"a","method":"GET"}`, 400, "bad_request", []string{"bucket", "nope"}},
		{"bad method", `{"bucket":"local","key":"a","method":"POST"}`, 400, "bad_request", []string{"method"}},
		{"lowercase method", `{"bucket":"local","key":"a","method":"get"}`, 400, "bad_request", []string{"method"}},
		{"control char in key", `{"bucket":"local","key":"a\u0001b","method":"GET"}`, 400, "bad_request", []string{"key", "control"}},
		{"key too long", `{"bucket":"local","key":"` + strings.Repeat("a", 1025) + `","method":"GET"}`, 400, "bad_request", []string{"key", "1024"}},
		{"escaping key on a file bucket", `{"bucket":"local","key":"../etc/passwd","method":"GET"}`, 400, "bad_request", []string{"key"}},
		{"key of an upload in progress", `{"bucket":"local","key":".assetgateway-uploads/tus-x-1","method":"PUT"}`, 400, "bad_request", []string{"key", "reserved"}},
		{"prefix over uploads in progress", `{"bucket":"local","prefix":".assetgateway-uploads","method":"LIST"}`, 400, "bad_request", []string{"prefix", "reserved"}},
		{"key in uploads in progress", `{"bucket":"local","key":".assetgateway-uploads/tus-x-1","method":"GET"}`, 400, "bad_request", []string{"key", "reserved"}},
		{"newline in filename", `{"bucket":"local","key":"a","method":"GET","filename":"a\nb"}`, 400, "bad_request", []string{"filename"}},
		{"past expire_at", fmt.Sprintf(`{"bucket":"local","key":"a","method":"GET","expire_at":%d}`, now-1), 400, "bad_request", []string{"expire_at", "past"}},
		{"expire_at now", fmt.Sprintf(`{"bucket":"local","key":"a","method":"GET","expire_at":%d}`, now), 400, "bad_request", []string{"expire_at"}},
		{"beyond max ttl", fmt.Sprintf(`{"bucket":"local","key":"a","method":"GET","expire_at":%d}`, now+8*86400), 400, "bad_request", []string{"expire_at", "max_ttl"}},
		{"both expiries", fmt.Sprintf(`{"bucket":"local","key":"a","method":"GET","expire_at":%d,"expires_in":5}`, now+60), 400, "bad_request", []string{"not both"}},
		{"zero expires_in", `{"bucket":"local","key":"a","method":"GET","expires_in":0}`, 400, "bad_request", []string{"expires_in"}},
		{"zero hits", `{"bucket":"local","key":"a","method":"GET","max_hits":0}`, 400, "bad_request", []string{"max_hits"}},
		{"hits below -1", `{"bucket":"local","key":"a","method":"GET","max_hits":-2}`, 400, "bad_request", []string{"max_hits"}},
		{"size below -1", `{"bucket":"local","key":"a","method":"PUT","size":-2}`, 400, "bad_request", []string{"size"}},
		{"short custom token", `{"bucket":"local","key":"a","method":"GET","token":"short"}`, 400, "bad_request", []string{"token"}},
		{"custom token with slash", `{"bucket":"local","key":"a","method":"GET","token":"aaaaaaaaaaaaaaaa/b"}`, 400, "bad_request", []string{"token"}},
		{"ftp callback", `{"bucket":"local","key":"a","method":"GET","callback":"ftp://example.com/x"}`, 400, "bad_request", []string{"callback"}},
		{"loopback callback", `{"bucket":"local","key":"a","method":"GET","callback":"http://127.0.0.1:9/hook"}`, 400, "bad_request", []string{"callback"}},
		{"localhost callback", `{"bucket":"local","key":"a","method":"GET","callback":"http://localhost/hook"}`, 400, "bad_request", []string{"callback"}},
		{"metadata callback", `{"bucket":"local","key":"a","method":"GET","callback":"http://169.254.169.254/latest"}`, 400, "bad_request", []string{"callback"}},
		{"body over the cap", `{"bucket":"local","key":"` + strings.Repeat("a", 5000) + `","method":"GET"}`, 413, "request_too_large", []string{"4096"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := expectError(t, f.control("POST", "/token", c.body), c.status, c.code)
			for _, m := range c.mention {
				if !strings.Contains(msg, m) {
					t.Errorf("message %q does not mention %q", msg, m)
				}
			}
		})
	}
}

func TestCustomTokenConflict(t *testing.T) {
	f := newFixture(t)
	body := `{"bucket":"local","key":"a","method":"GET","token":"conflicting-token-123"}`
	expectJSON(t, f.control("POST", "/token", body), http.StatusCreated, nil)
	expectError(t, f.control("POST", "/token", body), http.StatusConflict, "token_exists")
}

func TestTokenLifecycle(t *testing.T) {
	f := newFixture(t)
	tok := f.mint(map[string]any{"method": "GET"})
	resp := f.control("DELETE", "/token/"+tok, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: got %d, want 204", resp.StatusCode)
	}
	expectError(t, f.control("GET", "/token/"+tok, nil), 404, "token_not_found")
	expectError(t, f.control("DELETE", "/token/"+tok, nil), 404, "token_not_found")
	expectError(t, f.do("GET", "/object/"+tok, nil), 404, "token_not_found")
	// Malformed and unknown tokens look the same as deleted ones.
	for _, p := range []string{"/object/unknown-but-well-formed-token", "/object/short", "/object/bad%20chars%20in%20token%21"} {
		expectError(t, f.do("GET", p, nil), 404, "token_not_found")
	}
	expectError(t, f.control("GET", "/token/short", nil), 404, "token_not_found")
}

func TestRouterErrorsAreJSON(t *testing.T) {
	f := newFixture(t)
	expectError(t, f.do("GET", "/nope", nil), 404, "not_found")
	expectError(t, f.do("GET", "/object/", nil), 404, "not_found")
	resp := f.do("POST", "/object/some-token-0123456789", nil)
	expectError(t, resp, 405, "method_not_allowed")
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PUT") {
		t.Fatalf("Allow: got %q, want GET, HEAD, PUT", allow)
	}
	expectError(t, f.do("DELETE", "/healthz", nil), 405, "method_not_allowed")
	expectError(t, f.control("GET", "/token", nil), 405, "method_not_allowed")
}

func TestRequestID(t *testing.T) {
	f := newFixture(t)
	resp := f.do("GET", "/healthz", nil, "X-Request-Id", "trace-abc.123:x_y")
	if got := resp.Header.Get("X-Request-Id"); got != "trace-abc.123:x_y" {
		t.Fatalf("sane id: got %q, want it echoed", got)
	}
	for _, bad := range []string{"has space", strings.Repeat("a", 129), "quote\"", "ünïcode"} {
		resp := f.do("GET", "/nope", nil, "X-Request-Id", bad)
		got := resp.Header.Get("X-Request-Id")
		if got == bad || len(got) != 36 {
			t.Fatalf("insane id %q: got %q, want a fresh UUID", bad, got)
		}
		expectError(t, resp, 404, "not_found") // request_id in the body matches the header
	}
	if resp := f.do("GET", "/healthz", nil); len(resp.Header.Get("X-Request-Id")) != 36 {
		t.Fatalf("no id sent: got %q, want a UUID", resp.Header.Get("X-Request-Id"))
	}
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestUploadDownloadFlow(t *testing.T) {
	f := newFixture(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	put := f.mint(map[string]any{"method": "PUT", "key": "uploads/report.pdf", "size": len(content), "callback": "https://example.com/hook"})

	// HEAD on the PUT token probes the upload: 404 until it lands, and it costs nothing.
	expectError(t, f.do("HEAD", "/object/"+put, nil), 404, "object_not_found")

	var up struct {
		ETag string `json:"etag"`
		Size int64  `json:"size"`
	}
	expectJSON(t, f.do("PUT", "/object/"+put, string(content), "Content-Type", "application/pdf"), 200, &up)
	if up.ETag != md5hex(content) || up.Size != int64(len(content)) {
		t.Fatalf("PUT: got %+v, want etag %s size %d", up, md5hex(content), len(content))
	}
	// The one hit is spent.
	expectError(t, f.do("PUT", "/object/"+put, "again"), 409, "hits_exceeded")

	var st map[string]any
	expectJSON(t, f.control("GET", "/token/"+put+"/status", nil), 200, &st)
	for k, want := range map[string]any{"uploaded": true, "object_exists": true, "object_size": float64(len(content)),
		"etag": md5hex(content), "used_hits": 1.0, "status_url": "https://gw.example.com/token/" + put + "/status"} {
		if st[k] != want {
			t.Errorf("status %s: got %v, want %v", k, st[k], want)
		}
	}

	get := f.mint(map[string]any{"method": "GET", "key": "uploads/report.pdf", "filename": "年度 report.pdf", "max_hits": 2, "callback": "https://example.com/hook"})
	head := f.do("HEAD", "/object/"+get, nil)
	if head.StatusCode != 200 || head.ContentLength != int64(len(content)) {
		t.Fatalf("HEAD: got %d length %d", head.StatusCode, head.ContentLength)
	}
	resp := f.do("GET", "/object/"+get, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, content) {
		t.Fatalf("GET: got %d and %d bytes, want 200 and the upload", resp.StatusCode, len(body))
	}
	for _, r := range []*http.Response{head, resp} {
		want := map[string]string{
			"Content-Type":           "application/pdf",
			"Content-Length":         fmt.Sprint(len(content)),
			"ETag":                   `"` + md5hex(content) + `"`,
			"Accept-Ranges":          "bytes",
			"Content-Disposition":    `attachment; filename="__ report.pdf"; filename*=UTF-8''%E5%B9%B4%E5%BA%A6%20report.pdf`,
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s %s: got %q, want %q", r.Request.Method, k, got, v)
			}
		}
		if _, err := http.ParseTime(r.Header.Get("Last-Modified")); err != nil {
			t.Errorf("%s Last-Modified %q: %v", r.Request.Method, r.Header.Get("Last-Modified"), err)
		}
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition"))
		if err != nil || params["filename"] != "年度 report.pdf" {
			t.Errorf("Content-Disposition parses to %q (%v), want the UTF-8 name", params["filename"], err)
		}
	}
	if rec := f.record(get); rec["used_hits"] != 1.0 {
		t.Fatalf("used_hits after HEAD+GET: got %v, want 1", rec["used_hits"])
	}
	f.do("GET", "/object/"+get, nil)
	expectError(t, f.do("GET", "/object/"+get, nil), 409, "hits_exceeded")
	if r := f.do("HEAD", "/object/"+get, nil); r.StatusCode != 200 {
		t.Fatalf("HEAD with no hits left: got %d, want 200 (HEAD is never refused for hits)", r.StatusCode)
	}

	// HEAD costs no hit, so it fires the webhook at most once a minute per token: the two
	// HEADs of the GET token send one event.
	evs := f.events.wait(t, 4)
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Method]++
	}
	if len(evs) != 4 || count["PUT"] != 1 || count["GET"] != 2 || count["HEAD"] != 1 || evs[0].Method != "PUT" {
		t.Fatalf("callbacks: got %v, want PUT then two GETs and one HEAD (successes only; HEAD once a minute)", count)
	}
	ev := evs[0]
	if ev.Event != "asset.access" || ev.Status != 200 || ev.Bucket != "local" || ev.Key != "uploads/report.pdf" ||
		ev.Size != int64(len(content)) || ev.ETag != md5hex(content) || ev.ClientIP != "127.0.0.1" ||
		ev.RequestID == "" || ev.Timestamp != f.clock.Now().Unix() {
		t.Fatalf("PUT event: got %+v", ev)
	}
}

func TestRanges(t *testing.T) {
	f := newFixture(t)
	content := []byte("0123456789")
	put := f.mint(map[string]any{"method": "PUT"})
	expectJSON(t, f.do("PUT", "/object/"+put, string(content)), 200, nil)
	get := f.mint(map[string]any{"method": "GET", "callback": "https://example.com/h"})
	cases := []struct {
		rng, want, contentRange string
		status                  int
	}{
		{"bytes=2-5", "2345", "bytes 2-5/10", 206},
		{"bytes=7-", "789", "bytes 7-9/10", 206},
		{"bytes=0-", "0123456789", "bytes 0-9/10", 206},
		{"bytes=-3", "789", "bytes 7-9/10", 206},
		{"bytes=-30", "0123456789", "bytes 0-9/10", 206},
		{"bytes=8-100", "89", "bytes 8-9/10", 206},
		{"bytes=0-1,4-5", "0123456789", "", 200}, // several ranges: the whole object
		{"bytes=5-2", "0123456789", "", 200},     // invalid: ignored
		{"items=0-1", "0123456789", "", 200},
		{"", "0123456789", "", 200},
	}
	used := 0.0
	for _, c := range cases {
		t.Run(c.rng, func(t *testing.T) {
			var hdr []string
			if c.rng != "" {
				hdr = []string{"Range", c.rng}
			}
			resp := f.do("GET", "/object/"+get, nil, hdr...)
			body, _ := io.ReadAll(resp.Body)
			used++
			if resp.StatusCode != c.status || string(body) != c.want || resp.Header.Get("Content-Range") != c.contentRange {
				t.Fatalf("got %d %q Content-Range %q, want %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"), c.status, c.want, c.contentRange)
			}
		})
	}
	for _, rng := range []string{"bytes=10-", "bytes=100-200", "bytes=-0"} {
		t.Run(rng, func(t *testing.T) {
			resp := f.do("GET", "/object/"+get, nil, "Range", rng)
			if got := resp.Header.Get("Content-Range"); got != "bytes */10" {
				t.Errorf("Content-Range: got %q, want bytes */10", got)
			}
			expectError(t, resp, 416, "range_not_satisfiable")
		})
	}
	if rec := f.record(get); rec["used_hits"] != used {
		t.Fatalf("used_hits: got %v, want %v (416s are refunded)", rec["used_hits"], used)
	}
	evs := f.events.wait(t, int(used))
	if last := evs[len(evs)-1]; last.Range != "" || last.Status != 200 {
		t.Fatalf("last event: got %+v", last)
	}
	if first := evs[0]; first.Range != "bytes=2-5" || first.Status != 206 || first.Size != 10 {
		t.Fatalf("ranged event: got %+v, want range bytes=2-5, status 206, size 10 (the object's)", first)
	}
}

func TestMissingObjectIsRefunded(t *testing.T) {
	f := newFixture(t)
	get := f.mint(map[string]any{"method": "GET", "key": "nothing/here", "max_hits": 1})
	for range 3 {
		expectError(t, f.do("GET", "/object/"+get, nil), 404, "object_not_found")
	}
	if rec := f.record(get); rec["used_hits"] != 0.0 {
		t.Fatalf("used_hits: got %v, want 0", rec["used_hits"])
	}
	var st map[string]any
	expectJSON(t, f.control("GET", "/token/"+get+"/status", nil), 200, &st)
	if st["object_exists"] != false || st["uploaded"] != false || st["object_size"] != 0.0 || st["etag"] != "" {
		t.Fatalf("status of a missing object: got %v", st)
	}
}

func TestUploadSizeLimit(t *testing.T) {
	f := newFixture(t)
	put := f.mint(map[string]any{"method": "PUT", "size": 100, "key": "limited.bin"})
	// Declared too large: refused before reading, no hit used.
	expectError(t, f.do("PUT", "/object/"+put, strings.Repeat("x", 101)), 413, "size_exceeded")
	// Chunked, discovered while streaming: refused, nothing stored, the hit handed back.
	expectError(t, f.do("PUT", "/object/"+put, io.MultiReader(strings.NewReader(strings.Repeat("y", 150)))), 413, "size_exceeded")
	var st map[string]any
	expectJSON(t, f.control("GET", "/token/"+put+"/status", nil), 200, &st)
	if st["object_exists"] != false || st["used_hits"] != 0.0 || st["uploaded"] != false {
		t.Fatalf("after refused uploads: got %v, want no object and no hit used", st)
	}
	// Exactly the limit, chunked: accepted.
	expectJSON(t, f.do("PUT", "/object/"+put, io.MultiReader(strings.NewReader(strings.Repeat("z", 100)))), 200, nil)
}

func TestMethodRulesOverHTTP(t *testing.T) {
	f := newFixture(t)
	cases := []struct{ tokenMethod, request string }{
		{"GET", "PUT"}, {"PUT", "GET"}, {"HEAD", "GET"}, {"HEAD", "PUT"},
	}
	for _, c := range cases {
		t.Run(c.tokenMethod+" token "+c.request, func(t *testing.T) {
			tok := f.mint(map[string]any{"method": c.tokenMethod})
			expectError(t, f.do(c.request, "/object/"+tok, "x"), 405, "method_not_allowed")
		})
	}
}

func TestExpiredToken(t *testing.T) {
	f := newFixture(t)
	tok := f.mint(map[string]any{"method": "GET", "expires_in": 60})
	f.clock.Advance(61 * time.Second)
	expectError(t, f.do("GET", "/object/"+tok, nil), 410, "token_expired")
	if resp := f.do("HEAD", "/object/"+tok, nil); resp.StatusCode != 410 {
		t.Fatalf("HEAD: got %d, want 410", resp.StatusCode)
	}
	// Still readable through the control API (retention).
	f.record(tok)
}

func TestStoreUnavailable(t *testing.T) {
	f := newFixture(t)
	tok := f.mint(map[string]any{"method": "GET"})
	f.store.down.Store(true)
	resp := f.do("GET", "/object/"+tok, nil)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	expectError(t, resp, 503, "store_unavailable")
	expectError(t, f.control("POST", "/token", `{"bucket":"local","key":"a","method":"GET"}`), 503, "store_unavailable")
	f.store.down.Store(false)
	if rec := f.record(tok); rec["used_hits"] != 0.0 {
		t.Fatalf("used_hits: got %v, want 0", rec["used_hits"])
	}
}

func TestConcurrentHitsOverHTTP(t *testing.T) {
	f := newFixture(t)
	put := f.mint(map[string]any{"method": "PUT"})
	expectJSON(t, f.do("PUT", "/object/"+put, "payload"), 200, nil)
	get := f.mint(map[string]any{"method": "GET", "max_hits": 3})
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(f.srv.URL + "/object/" + get)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			switch {
			case resp.StatusCode == 200 && string(body) == "payload":
				ok.Add(1)
			case resp.StatusCode == 409:
				refused.Add(1)
			default:
				t.Errorf("got %d %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 3 || refused.Load() != 197 {
		t.Fatalf("got %d served, %d refused; want 3 and 197", ok.Load(), refused.Load())
	}
}

func TestConditionalRequests(t *testing.T) {
	f := newFixture(t)
	put := f.mint(map[string]any{"method": "PUT"})
	var up struct{ ETag string }
	expectJSON(t, f.do("PUT", "/object/"+put, "0123456789"), 200, &up)
	get := f.mint(map[string]any{"method": "GET", "callback": "https://example.com/h"})
	first := f.do("GET", "/object/"+get, nil)
	tag, lm := first.Header.Get("ETag"), first.Header.Get("Last-Modified")
	if tag != `"`+up.ETag+`"` || lm == "" {
		t.Fatalf("validators: ETag %q Last-Modified %q", tag, lm)
	}
	cases := []struct {
		name   string
		hdr    []string
		status int
		body   string
	}{
		{"If-None-Match matching", []string{"If-None-Match", tag}, 304, ""},
		{"If-None-Match weak", []string{"If-None-Match", "W/" + tag}, 304, ""},
		{"If-None-Match other", []string{"If-None-Match", `"x"`}, 200, "0123456789"},
		{"If-Modified-Since", []string{"If-Modified-Since", lm}, 304, ""},
		{"If-Match other", []string{"If-Match", `"x"`}, 412, ""},
		{"If-Match matching", []string{"If-Match", tag}, 200, "0123456789"},
		{"If-Range matching", []string{"Range", "bytes=2-4", "If-Range", tag}, 206, "234"},
		{"If-Range by date", []string{"Range", "bytes=2-4", "If-Range", lm}, 206, "234"},
		{"If-Range stale", []string{"Range", "bytes=2-4", "If-Range", `"old"`}, 200, "0123456789"},
		{"If-Range weak", []string{"Range", "bytes=2-4", "If-Range", "W/" + tag}, 200, "0123456789"},
	}
	served := 1.0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := f.do("GET", "/object/"+get, nil, c.hdr...)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, c.status)
			}
			switch c.status {
			case 304:
				if len(body) != 0 || resp.Header.Get("ETag") != tag || resp.Header.Get("Cache-Control") == "" {
					t.Fatalf("304: body %q, headers %v", body, resp.Header)
				}
			case 412:
				if !strings.Contains(string(body), "precondition_failed") {
					t.Fatalf("412 body %s", body)
				}
			default:
				served++
				if string(body) != c.body {
					t.Fatalf("body: got %q, want %q", body, c.body)
				}
			}
		})
	}
	if rec := f.record(get); rec["used_hits"] != served {
		t.Fatalf("used_hits: got %v, want %v (304 and 412 are refunded)", rec["used_hits"], served)
	}
	if n := len(f.events.wait(t, int(served))); float64(n) != served {
		t.Fatalf("callbacks: got %d, want %v (none for 304/412)", n, served)
	}
	if resp := f.do("HEAD", "/object/"+get, nil, "If-None-Match", tag); resp.StatusCode != 304 {
		t.Fatalf("conditional HEAD: got %d, want 304", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t, func(o *api.Options) {
		o.CORS = api.CORS{AllowedOrigins: []string{"https://app.example.com"}, MaxAge: 10 * time.Minute}
	})
	star := newFixture(t, func(o *api.Options) { o.CORS = api.CORS{AllowedOrigins: []string{"*"}} })
	none := newFixture(t)
	for _, fx := range []*fixture{f, star, none} {
		put := fx.mint(map[string]any{"method": "PUT"})
		expectJSON(t, fx.do("PUT", "/object/"+put, "data"), 200, nil)
	}
	get := f.mint(map[string]any{"method": "GET"})

	t.Run("preflight for PUT with Content-Type", func(t *testing.T) {
		resp := f.do("OPTIONS", "/object/"+get, nil, "Origin", "https://app.example.com",
			"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "content-type")
		want := map[string]string{
			"Access-Control-Allow-Origin":  "https://app.example.com",
			"Access-Control-Allow-Methods": "GET, HEAD, PUT, DELETE",
			"Access-Control-Max-Age":       "600",
		}
		if resp.StatusCode != 204 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: got %q, want %q", k, got, v)
			}
		}
		for _, h := range []string{"Content-Type", "Range", "If-None-Match"} {
			if !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), h) {
				t.Errorf("Allow-Headers %q lacks %s", resp.Header.Get("Access-Control-Allow-Headers"), h)
			}
		}
	})
	t.Run("preflight from another origin", func(t *testing.T) {
		resp := f.do("OPTIONS", "/object/"+get, nil, "Origin", "https://evil.example.net", "Access-Control-Request-Method", "GET")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Fatalf("got %d %v, want 204 without CORS grants", resp.StatusCode, resp.Header)
		}
	})
	t.Run("preflight never touches the token", func(t *testing.T) {
		resp := f.do("OPTIONS", "/object/no-such-token-0123456789", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET")
		if resp.StatusCode != 204 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("GET exposes headers", func(t *testing.T) {
		resp := f.do("GET", "/object/"+get, nil, "Origin", "https://app.example.com", "Range", "bytes=0-1")
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
			t.Fatalf("headers %v", resp.Header)
		}
		for _, h := range []string{"Content-Range", "Content-Disposition", "ETag", "Accept-Ranges", "X-Request-Id", "Content-Length"} {
			if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), h) {
				t.Errorf("Expose-Headers lacks %s", h)
			}
		}
	})
	t.Run("errors carry CORS headers", func(t *testing.T) {
		resp := f.do("GET", "/object/no-such-token-0123456789", nil, "Origin", "https://app.example.com")
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Fatalf("404 without CORS: %v", resp.Header)
		}
		expectError(t, resp, 404, "token_not_found")
	})
	t.Run("star", func(t *testing.T) {
		tok := star.mint(map[string]any{"method": "GET"})
		resp := star.do("GET", "/object/"+tok, nil, "Origin", "https://anyone.example")
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("headers %v", resp.Header)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		tok := none.mint(map[string]any{"method": "GET"})
		resp := none.do("GET", "/object/"+tok, nil, "Origin", "https://app.example.com")
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("CORS header without configuration: %v", resp.Header)
		}
	})
	t.Run("control API has no CORS", func(t *testing.T) {
		resp := f.control("GET", "/token/"+get, nil)
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("control API answered with CORS headers")
		}
	})
}

func TestReadyz(t *testing.T) {
	var storeDown, bucketDown atomic.Bool
	f := newFixture(t, func(o *api.Options) {
		o.ReadyTimeout = 100 * time.Millisecond
		o.Ready = map[string]func(context.Context) error{
			"store": func(context.Context) error {
				if storeDown.Load() {
					return errors.New("dial tcp 127.0.0.1:6379: connection refused")
				}
				return nil
			},
		}
		o.Advisory = map[string]func(context.Context) error{
			"bucket local": func(context.Context) error { return nil },
			"bucket slow": func(ctx context.Context) error {
				if storeDown.Load() || bucketDown.Load() {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			},
		}
	})
	var got struct {
		Status string
		Checks map[string]string
	}
	expectJSON(t, f.do("GET", "/readyz", nil), 200, &got)
	if got.Status != "ok" || len(got.Checks) != 3 || got.Checks["store"] != "ok" {
		t.Fatalf("ready: got %+v", got)
	}
	// One bucket alias down does not take the replica out of rotation: it is reported.
	bucketDown.Store(true)
	expectJSON(t, f.do("GET", "/readyz", nil), 200, &got)
	if got.Status != "ok" || got.Checks["bucket slow"] != "timeout" || got.Checks["store"] != "ok" {
		t.Fatalf("ready with one bucket down: got %+v", got)
	}
	bucketDown.Store(false)
	storeDown.Store(true)
	start := time.Now()
	expectJSON(t, f.do("GET", "/readyz", nil), 503, &got)
	if got.Status != "unavailable" || got.Checks["store"] != "unreachable" || got.Checks["bucket slow"] != "timeout" || got.Checks["bucket local"] != "ok" {
		t.Fatalf("not ready: got %+v", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("/readyz took %s with a hanging check, want about the 100ms timeout", d)
	}
}

func TestMetrics(t *testing.T) {
	m := metrics.New()
	f := newFixture(t, func(o *api.Options) { o.Metrics = m })
	put := f.mint(map[string]any{"method": "PUT"})
	expectJSON(t, f.do("PUT", "/object/"+put, "0123456789"), 200, nil)
	get := f.mint(map[string]any{"method": "GET"})
	f.do("GET", "/object/"+get, nil)
	f.do("GET", "/nope", nil)
	resp := f.do("GET", "/metrics", nil)
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`assetgateway_http_requests_total{code="200",method="GET",route="GET /object/{token}"} 1`,
		`assetgateway_http_requests_total{code="201",method="POST",route="POST /token"} 2`,
		`assetgateway_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`assetgateway_object_bytes_total{direction="out"} 10`,
		`assetgateway_object_bytes_total{direction="in"} 10`,
		`assetgateway_http_request_duration_seconds_bucket{method="PUT",route="PUT /object/{token}",le="+Inf"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestBruteForceLimiter(t *testing.T) {
	f := newFixture(t, func(o *api.Options) { o.RateLimit = api.RateLimit{PerMinute: 6, Burst: 3} })
	good := f.mint(map[string]any{"method": "GET"})
	for i := range 3 {
		expectError(t, f.do("GET", "/token/"+good, nil, "Authorization", "Bearer wrong"), 403, "forbidden")
		_ = i
	}
	resp := f.do("GET", "/token/"+good, nil, "Authorization", "Bearer wrong")
	if ra := resp.Header.Get("Retry-After"); ra != "10" {
		t.Errorf("Retry-After: got %q, want 10 (one failure per 10s)", ra)
	}
	expectError(t, resp, 429, "too_many_requests")
	expectError(t, f.do("POST", "/token", "{}"), 429, "too_many_requests") // no header: still a failure
	// While the budget is spent, a valid control token is refused too: the answer must not
	// tell a right guess from a wrong one.
	expectError(t, f.do("GET", "/token/"+good, nil, "Authorization", "Bearer "+control), 429, "too_many_requests")
	// Guessing object tokens is throttled too, before any lookup, and unknown, malformed and
	// deleted tokens all count.
	expectError(t, f.do("GET", "/object/"+good, nil), 429, "too_many_requests")

	f.clock.Advance(10 * time.Second) // one failure refilled
	put := f.mint(map[string]any{"method": "PUT"})
	expectJSON(t, f.do("PUT", "/object/"+put, "x"), 200, nil) // successes cost nothing
	expectError(t, f.do("GET", "/object/unknown-token-0123456789", nil), 404, "token_not_found")
	expectError(t, f.do("GET", "/object/"+good, nil), 429, "too_many_requests")

	f.clock.Advance(time.Minute)
	resp = f.do("GET", "/object/"+good, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("after the budget refilled: got %d, want 200", resp.StatusCode)
	}
	f.record(good) // and the control API answers again
}

func TestBruteForceLimiterOff(t *testing.T) {
	f := newFixture(t)
	for range 50 {
		expectError(t, f.do("GET", "/object/unknown-token-0123456789", nil), 404, "token_not_found")
	}
}

func TestDeleteToken(t *testing.T) {
	f := newFixture(t)
	put := f.mint(map[string]any{"method": "PUT", "key": "trash/a.txt"})
	expectJSON(t, f.do("PUT", "/object/"+put, "bye"), 200, nil)
	del := f.mint(map[string]any{"method": "DELETE", "key": "trash/a.txt", "callback": "https://example.com/h"})
	if rec := f.record(del); rec["max_hits"] != 1.0 {
		t.Fatalf("DELETE token default max_hits: got %v, want 1", rec["max_hits"])
	}
	if resp := f.do("HEAD", "/object/"+del, nil); resp.StatusCode != 200 {
		t.Fatalf("HEAD on a DELETE token: got %d, want 200", resp.StatusCode)
	}
	expectError(t, f.do("GET", "/object/"+del, nil), 405, "method_not_allowed")
	resp := f.do("DELETE", "/object/"+del, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE: got %d, want 204", resp.StatusCode)
	}
	expectError(t, f.do("DELETE", "/object/"+del, nil), 409, "hits_exceeded")
	var st map[string]any
	expectJSON(t, f.control("GET", "/token/"+put+"/status", nil), 200, &st)
	if st["object_exists"] != false {
		t.Fatalf("object still exists after DELETE: %v", st)
	}
	evs := f.events.all()
	if last := evs[len(evs)-1]; last.Method != "DELETE" || last.Status != 204 || last.Key != "trash/a.txt" {
		t.Fatalf("DELETE callback: got %+v", last)
	}
	// Only a DELETE token deletes.
	get := f.mint(map[string]any{"method": "GET", "key": "trash/a.txt"})
	expectError(t, f.do("DELETE", "/object/"+get, nil), 405, "method_not_allowed")
}

func TestUploadConstraintsAndBinding(t *testing.T) {
	f := newFixture(t)
	body := "a tiny png, or so it says"
	sum := sha256.Sum256([]byte(body))
	hexSum := hex.EncodeToString(sum[:])

	t.Run("content types", func(t *testing.T) {
		put := f.mint(map[string]any{"method": "PUT", "key": "c/a.png", "content_types": []string{"image/png", "image/webp"}})
		expectError(t, f.do("PUT", "/object/"+put, body, "Content-Type", "text/plain"), 415, "unsupported_media_type")
		expectError(t, f.do("PUT", "/object/"+put, body), 415, "unsupported_media_type")
		expectJSON(t, f.do("PUT", "/object/"+put, body, "Content-Type", "image/png; charset=binary"), 200, nil)
		wild := f.mint(map[string]any{"method": "PUT", "key": "c/b.jpg", "content_types": []string{"image/*"}})
		expectJSON(t, f.do("PUT", "/object/"+wild, body, "Content-Type", "IMAGE/JPEG"), 200, nil)
	})
	t.Run("sha256", func(t *testing.T) {
		put := f.mint(map[string]any{"method": "PUT", "key": "s/a.bin", "sha256": strings.ToUpper(hexSum)})
		expectError(t, f.do("PUT", "/object/"+put, "not the content"), 400, "checksum_mismatch")
		expectError(t, f.do("PUT", "/object/"+put, io.MultiReader(strings.NewReader("not the content"))), 400, "checksum_mismatch")
		var st map[string]any
		expectJSON(t, f.control("GET", "/token/"+put+"/status", nil), 200, &st)
		if st["object_exists"] != false || st["used_hits"] != 0.0 {
			t.Fatalf("after mismatches: %v, want no object and the hit handed back", st)
		}
		expectJSON(t, f.do("PUT", "/object/"+put, body), 200, nil)
	})
	t.Run("if_none_match", func(t *testing.T) {
		first := f.mint(map[string]any{"method": "PUT", "key": "n/a.txt", "if_none_match": true})
		expectJSON(t, f.do("PUT", "/object/"+first, "first"), 200, nil)
		second := f.mint(map[string]any{"method": "PUT", "key": "n/a.txt", "if_none_match": true})
		expectError(t, f.do("PUT", "/object/"+second, "second"), 412, "precondition_failed")
		get := f.mint(map[string]any{"method": "GET", "key": "n/a.txt"})
		if b, _ := io.ReadAll(f.do("GET", "/object/"+get, nil).Body); string(b) != "first" {
			t.Fatalf("object overwritten: %q", b)
		}
	})
	t.Run("ip", func(t *testing.T) {
		elsewhere := f.mint(map[string]any{"method": "GET", "key": "n/a.txt", "ip": []string{"10.0.0.0/8", "2001:db8::/32"}})
		expectError(t, f.do("GET", "/object/"+elsewhere, nil), 403, "forbidden")
		if rec := f.record(elsewhere); rec["used_hits"] != 0.0 {
			t.Fatalf("a refused client used a hit: %v", rec["used_hits"])
		}
		here := f.mint(map[string]any{"method": "GET", "key": "n/a.txt", "ip": []string{"127.0.0.1"}})
		if resp := f.do("GET", "/object/"+here, nil); resp.StatusCode != 200 {
			t.Fatalf("GET from an allowed address: %d", resp.StatusCode)
		}
		if rec := f.record(here); fmt.Sprint(rec["ip"]) != "[127.0.0.1/32]" {
			t.Fatalf("ip in the record: got %v, want [127.0.0.1/32]", rec["ip"])
		}
	})
	t.Run("disposition and cache_control", func(t *testing.T) {
		tok := f.mint(map[string]any{"method": "GET", "key": "n/a.txt", "filename": "a.txt", "disposition": "inline",
			"cache_control": "private, max-age=600"})
		resp := f.do("GET", "/object/"+tok, nil)
		if got := resp.Header.Get("Content-Disposition"); got != `inline; filename="a.txt"; filename*=UTF-8''a.txt` {
			t.Errorf("Content-Disposition: %q", got)
		}
		if got := resp.Header.Get("Cache-Control"); got != "private, max-age=600" {
			t.Errorf("Cache-Control: %q", got)
		}
	})
	t.Run("validation", func(t *testing.T) {
		cases := []struct {
			name string
			body map[string]any
			want string
		}{
			{"content_types on GET", map[string]any{"method": "GET", "content_types": []string{"image/png"}}, "content_types: only for PUT"},
			{"bad media range", map[string]any{"method": "PUT", "content_types": []string{"*/*"}}, "content_types[0]"},
			{"bad sha256", map[string]any{"method": "PUT", "sha256": "abc"}, "sha256"},
			{"metadata name", map[string]any{"method": "PUT", "metadata": map[string]string{"Bad Name": "v"}}, "metadata"},
			{"metadata value", map[string]any{"method": "PUT", "metadata": map[string]string{"a": "é"}}, "metadata"},
			{"bad ip", map[string]any{"method": "GET", "ip": []string{"10.0.0.0/40"}}, "ip[0]"},
			{"bad disposition", map[string]any{"method": "GET", "disposition": "download"}, "disposition"},
			{"cache_control newline", map[string]any{"method": "GET", "cache_control": "a\nb"}, "cache_control"},
			{"redirect on a file bucket", map[string]any{"method": "GET", "delivery": "redirect"}, "delivery"},
			{"redirect for HEAD", map[string]any{"method": "HEAD", "delivery": "redirect"}, "delivery"},
			{"bad delivery", map[string]any{"method": "GET", "delivery": "carrier-pigeon"}, "delivery"},
			{"key and prefix", map[string]any{"method": "GET", "prefix": "p/"}, "not both"},
			{"LIST without prefix", map[string]any{"method": "LIST"}, "LIST needs a prefix"},
			{"PUT on a prefix", map[string]any{"method": "PUT", "prefix": "p/", "key": ""}, "method"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				b := map[string]any{"bucket": "local", "key": "k"}
				for k, v := range c.body {
					b[k] = v
				}
				raw, _ := json.Marshal(b)
				msg := expectError(t, f.control("POST", "/token", string(raw)), 400, "bad_request")
				if !strings.Contains(msg, c.want) {
					t.Fatalf("message %q lacks %q", msg, c.want)
				}
			})
		}
	})
}

func TestPrefixAndListTokens(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{"hls/show/index.m3u8": "#EXTM3U", "hls/show/seg-1.ts": "one", "hls/show/seg-2.ts": "two",
		"hls/show/sub/x.ts": "deep", "hls/other/y.ts": "other"}
	for k, v := range files {
		put := f.mint(map[string]any{"method": "PUT", "key": k})
		expectJSON(t, f.do("PUT", "/object/"+put, v), 200, nil)
	}
	get := f.mint(map[string]any{"method": "GET", "key": "", "prefix": "hls/show/", "max_hits": 5, "callback": "https://example.com/h"})
	for rest, want := range map[string]string{"index.m3u8": "#EXTM3U", "seg-2.ts": "two", "sub/x.ts": "deep"} {
		resp := f.do("GET", "/object/"+get+"/"+rest, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("GET %s: %d %q", rest, resp.StatusCode, body)
		}
	}
	if resp := f.do("HEAD", "/object/"+get+"/seg-1.ts", nil); resp.StatusCode != 200 || resp.ContentLength != 3 {
		t.Fatalf("HEAD under the prefix: %d %d", resp.StatusCode, resp.ContentLength)
	}
	for _, p := range []string{
		"/object/" + get + "/../other/y.ts", // cleaned by the router: no such endpoint
		"/object/" + get + "/sub%2Fx.ts",    // encoded slash
		"/object/" + get,                    // the prefix itself is no object
		"/object/" + get + "/missing.ts",
	} {
		resp := f.do("GET", p, nil)
		if resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("GET %s: got %d, want 400 or 404", p, resp.StatusCode)
		}
	}
	if rec := f.record(get); rec["used_hits"] != 3.0 || rec["prefix"] != "hls/show/" {
		t.Fatalf("after 3 GETs and refused paths: %v", rec)
	}
	if evs := f.events.wait(t, 4); evs[len(evs)-1].Key != "hls/show/seg-1.ts" {
		t.Fatalf("HEAD event key: %+v", evs[len(evs)-1])
	}
	// A key token has nothing below it, not even at a trailing slash.
	keyTok := f.mint(map[string]any{"method": "GET", "key": "hls/show/seg-1.ts"})
	expectError(t, f.do("GET", "/object/"+keyTok+"/more", nil), 404, "object_not_found")
	expectError(t, f.do("GET", "/object/"+keyTok+"/", nil), 404, "object_not_found")
	// A prefix token's status names no single object.
	var st map[string]any
	expectJSON(t, f.control("GET", "/token/"+get+"/status", nil), 200, &st)
	if st["object_exists"] != false || st["object_size"] != 0.0 {
		t.Fatalf("status of a prefix token: %v", st)
	}
	// An IPv4-mapped CIDR is kept as the IPv4 one it means.
	mapped := f.mint(map[string]any{"method": "GET", "key": "hls/show/seg-1.ts", "ip": []string{"::ffff:127.0.0.0/104"}})
	if resp := f.do("GET", "/object/"+mapped, nil); resp.StatusCode != 200 {
		t.Fatalf("GET with ip ::ffff:127.0.0.0/104 from 127.0.0.1: %d", resp.StatusCode)
	}

	list := f.mint(map[string]any{"method": "LIST", "key": "", "prefix": "hls/show/"})
	var page struct {
		Objects []struct {
			Key  string
			Size int64
			ETag string
		}
		Truncated bool
		NextAfter string `json:"next_after"`
	}
	expectJSON(t, f.do("GET", "/object/"+list+"?limit=2", nil), 200, &page)
	if len(page.Objects) != 2 || page.Objects[0].Key != "index.m3u8" || !page.Truncated || page.NextAfter != "seg-1.ts" || page.Objects[0].ETag == "" {
		t.Fatalf("first page: %+v", page)
	}
	page.Objects, page.NextAfter = nil, ""
	expectJSON(t, f.do("GET", "/object/"+list+"?after=seg-1.ts", nil), 200, &page)
	if len(page.Objects) != 2 || page.Objects[1].Key != "sub/x.ts" || page.Truncated {
		t.Fatalf("second page: %+v", page)
	}
	expectError(t, f.do("GET", "/object/"+list+"?limit=0", nil), 400, "bad_request")
	expectError(t, f.do("GET", "/object/"+list+"/seg-1.ts", nil), 404, "object_not_found")
	expectError(t, f.do("PUT", "/object/"+list, "x"), 405, "method_not_allowed")
	if rec := f.record(list); rec["used_hits"] != 2.0 {
		t.Fatalf("a listing page is a hit: got %v, want 2", rec["used_hits"])
	}
}

func TestBatchMinting(t *testing.T) {
	f := newFixture(t, func(o *api.Options) { o.MaxBody = 1 << 20 })
	expectJSON(t, f.control("POST", "/token", `{"bucket":"local","key":"a","method":"GET","token":"already-taken-token-01"}`), 201, nil)
	var items []string
	for i := range 1000 {
		items = append(items, fmt.Sprintf(`{"bucket":"local","key":"batch/%04d.bin","method":"GET","max_hits":%d}`, i, i+1))
	}
	items[500] = `{"bucket":"local","key":"x","method":"GET","token":"already-taken-token-01"}`
	var out struct {
		Tokens []struct {
			Status int
			Token  string
			URL    string
			Code   string
		}
	}
	expectJSON(t, f.control("POST", "/tokens", `{"tokens":[`+strings.Join(items, ",")+`]}`), 200, &out)
	if len(out.Tokens) != 1000 {
		t.Fatalf("got %d results, want 1000", len(out.Tokens))
	}
	for i, r := range out.Tokens {
		switch {
		case i == 500 && (r.Status != 409 || r.Code != "token_exists"):
			t.Fatalf("item 500: %+v, want 409 token_exists", r)
		case i != 500 && (r.Status != 201 || !strings.HasSuffix(r.URL, "/object/"+r.Token)):
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	if rec := f.record(out.Tokens[999].Token); rec["key"] != "batch/0999.bin" || rec["max_hits"] != 1000.0 {
		t.Fatalf("a batched record: %v", rec)
	}

	cases := []struct {
		name, body string
		status     int
		mention    []string
	}{
		{"one bad item refuses all", `{"tokens":[{"bucket":"local","key":"a","method":"GET"},{"bucket":"nope","key":"b","method":"GET"},{"bucket":"local","method":"PUT"}]}`,
			400, []string{"tokens[1].bucket", "tokens[2].key: required"}},
		{"duplicate custom tokens", `{"tokens":[{"bucket":"local","key":"a","method":"GET","token":"same-custom-token-001"},{"bucket":"local","key":"b","method":"GET","token":"same-custom-token-001"}]}`,
			400, []string{"tokens[1].token"}},
		{"unknown field in an item", `{"tokens":[{"bucket":"local","key":"a","method":"GET","max_hit":2}]}`, 400, []string{"tokens[0]", "max_hit"}},
		{"case-folded member", `{"tokens":[{"bucket":"local","key":"a","method":"GET","MAX_HITS":-1}]}`, 400, []string{"tokens[0]", "MAX_HITS"}},
		{"empty", `{"tokens":[]}`, 400, []string{"at least one"}},
		{"too many", `{"tokens":[` + strings.Repeat(`{},`, 1000) + `{}]}`, 400, []string{"at most 1000"}},
		{"not a batch", `[{"bucket":"local"}]`, 400, []string{"tokens"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := expectError(t, f.control("POST", "/tokens", c.body), c.status, "bad_request")
			for _, m := range c.mention {
				if !strings.Contains(msg, m) {
					t.Errorf("message %q lacks %q", msg, m)
				}
			}
		})
	}
	if _, err := f.store.Get(context.Background(), "same-custom-token-001"); err == nil {
		t.Fatal("a refused batch minted a token")
	}
	expectError(t, f.do("POST", "/tokens", `{"tokens":[]}`), 401, "unauthorized")
}
