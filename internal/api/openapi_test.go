package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/edge"
	"github.com/assetgateway/assetgateway/internal/metrics"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/s3api"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/token/storetest"
	"github.com/assetgateway/assetgateway/internal/uppy"
)

// This file checks internal/api/openapi.yaml against the running gateway: the document must
// pass openapi3's own validation, and every request below is sent to a real in-process
// gateway (api + proxy + the embedded token store + a directory bucket + an S3 bucket that
// refuses everything) and its response — status, headers, body — validated against the
// operation the document describes. At the end, every (operation, status) the document lists
// must have been seen at least once, so the document cannot promise what the gateway never
// answers, and the gateway cannot answer what the document does not list.

const oasControl = "control-token-for-openapi"

// oasLoad parses and validates the embedded document.
func oasLoad(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func TestOpenAPIDocument(t *testing.T) {
	doc := oasLoad(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi: got %q, want 3.0.3", doc.OpenAPI)
	}
	// Every contract code is in the error enum, and nothing else.
	codes := []string{"bad_request", "unauthorized", "forbidden", "token_not_found", "object_not_found", "not_found",
		"method_not_allowed", "token_exists", "hits_exceeded", "token_expired", "precondition_failed", "size_exceeded",
		"request_too_large", "request_timeout", "range_not_satisfiable", "too_many_requests", "internal_error", "upstream_error", "store_unavailable",
		"unsupported_media_type", "checksum_mismatch",
		"upload_not_found", "upload_expired", "offset_mismatch", "upload_locked", "unsupported_version"}
	var enum []string
	for _, v := range doc.Components.Schemas["Error"].Value.Properties["code"].Value.Enum {
		enum = append(enum, v.(string))
	}
	slices.Sort(enum)
	slices.Sort(codes)
	if !slices.Equal(enum, codes) {
		t.Errorf("Error.code enum: got %v, want %v", enum, codes)
	}
	// Control operations need the Bearer token; the others do not.
	for path, item := range doc.Paths.Map() {
		control := strings.HasPrefix(path, "/token") || strings.HasPrefix(path, "/callbacks")
		for method, op := range item.Operations() {
			secured := op.Security != nil && len(*op.Security) > 0
			if secured != control {
				t.Errorf("%s %s: security %v, want %v", method, path, secured, control)
			}
			if op.OperationID == "" {
				t.Errorf("%s %s: no operationId", method, path)
			}
		}
	}
}

// oasStore is a token store that can be made unreachable (503) or broken (500).
type oasStore struct {
	token.Store
	mode atomic.Int32 // 0 ok, 1 unreachable, 2 failing with an unexpected error
}

var errOASBroken = errors.New("unexpected store failure (test)")

func (s *oasStore) fault() error {
	switch s.mode.Load() {
	case 1:
		return fmt.Errorf("%w: switched off by the test", token.ErrUnavailable)
	case 2:
		return errOASBroken
	}
	return nil
}

func (s *oasStore) Create(ctx context.Context, tok string, rec token.Record) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.Create(ctx, tok, rec)
}

func (s *oasStore) CreateMany(ctx context.Context, items []token.Item) ([]error, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.CreateMany(ctx, items)
}

func (s *oasStore) Get(ctx context.Context, tok string) (token.Record, error) {
	if err := s.fault(); err != nil {
		return token.Record{}, err
	}
	return s.Store.Get(ctx, tok)
}

func (s *oasStore) Delete(ctx context.Context, tok string) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.Delete(ctx, tok)
}

func (s *oasStore) Access(ctx context.Context, tok string, req token.Request) (*token.Grant, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.Access(ctx, tok, req)
}

func (s *oasStore) Upload(ctx context.Context, tokenID, id string) (token.Upload, *token.Grant, error) {
	if err := s.fault(); err != nil {
		return token.Upload{}, nil, err
	}
	return s.Store.Upload(ctx, tokenID, id)
}

// oasDeadLetters is a hand-written DeadLetters with one dead letter; it can be broken (500).
type oasDeadLetters struct{ broken atomic.Bool }

func (d *oasDeadLetters) DeadLetters(context.Context, int) ([]callback.DeadLetter, error) {
	if d.broken.Load() {
		return nil, errOASBroken
	}
	return []callback.DeadLetter{{ID: "msg_2Qh4xV", Target: "https://hooks.example.com/in", Attempts: 8, LastStatus: 500,
		LastError: "HTTP 500", FailedAt: time.Unix(1760000000, 0),
		Event: callback.Event{Event: callback.EventAccess, Method: "PUT", Status: 200, Bucket: "local", Key: "k", Size: 5,
			ETag: "5d41402abc4b2a76b9719d911017c592", ClientIP: "127.0.0.1", UserAgent: "curl/8", RequestID: "r-1", Timestamp: 1760000000}}}, nil
}

func (d *oasDeadLetters) Replay(_ context.Context, id string) error {
	if d.broken.Load() {
		return errOASBroken
	}
	if id != "msg_2Qh4xV" {
		return callback.ErrNotFound
	}
	return nil
}

// oasGateway is the gateway under validation, the document's router, and the (operation,
// status) pairs seen so far.
type oasGateway struct {
	url       string
	s3URL     string  // where the "broken" alias's presigned URLs point
	direct    *fakeS3 // the "direct" alias's store: direct uploads (Uppy's endpoints)
	directURL string
	clock     *storetest.Clock
	store     *oasStore
	dead      *oasDeadLetters
	notReady  atomic.Bool
	router    routers.Router
	mu        sync.Mutex
	seen      map[string]bool
	unchecked map[string]bool // routes not implemented yet: left out of the coverage check
}

func newOASGateway(t *testing.T, limit api.RateLimit) *oasGateway {
	t.Helper()
	g := &oasGateway{clock: storetest.NewClock(), dead: &oasDeadLetters{}, seen: map[string]bool{}, unchecked: map[string]bool{}}
	mem := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour, Now: g.clock.Now})
	t.Cleanup(func() { mem.Close() })
	g.store = &oasStore{Store: mem}
	files, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	refusing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	})
	var broken, direct *objstore.S3
	g.s3URL, broken = s3Alias(t, refusing)
	g.direct = newFakeS3()
	g.directURL, direct = s3Alias(t, g.direct)
	objects := proxy.New(proxy.Options{
		Store:   g.store,
		Buckets: map[string]objstore.Backend{"local": files, "broken": broken, "direct": direct},
		Now:     g.clock.Now,
	})
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	g.url = "http://" + srv.Listener.Addr().String()
	uppyHandler := uppy.New(uppy.Options{Store: g.store, Aliases: map[string]uppy.Alias{"direct": {Objects: direct, PresignTTL: time.Minute}},
		Retention: time.Hour, Host: g.url, Now: g.clock.Now})
	// Behind edge.Handler, as the binary serves it: a stalled body is cut after 300 ms.
	h = edge.Handler(api.New(api.Options{
		Tokens:        g.store,
		Objects:       objects,
		Uppy:          uppyHandler,
		Tus:           oasTus(g, map[string]objstore.Backend{"local": files, "broken": broken}),
		Buckets:       map[string]api.Bucket{"local": files, "broken": broken, "direct": direct},
		ControlTokens: []string{oasControl},
		Host:          g.url,
		MaxTTL:        7 * 24 * time.Hour,
		MaxBody:       4096,
		// Presigning needs no I/O: redirect tokens of the refusing S3 alias answer 307.
		Redirects:   map[string]bool{"local": objstore.CanPresign(files), "broken": objstore.CanPresign(broken)},
		DeadLetters: g.dead,
		CORS:        api.CORS{AllowedOrigins: []string{"https://app.example.com"}, MaxAge: 10 * time.Minute},
		S3:          &api.S3{Credentials: s3api.NewKeys("openapi-s3-server-key-0123456789abcdef"), Endpoint: "http://127.0.0.1:9000", Region: "us-east-1"},
		RateLimit:   limit,
		Metrics:     metrics.New(),
		Ready: map[string]func(context.Context) error{
			"store": func(context.Context) error {
				if g.notReady.Load() {
					return errors.New("switched off by the test")
				}
				return nil
			},
			"bucket local": files.Check,
		},
		Now: g.clock.Now,
	}), edge.Limits{BodyIdle: 300 * time.Millisecond})
	srv.Start()
	t.Cleanup(srv.Close)

	// The router matches request paths against the document's paths, without its servers.
	// OpenAPI path parameters span one segment; {rest} spans several (a key under a prefix),
	// which the legacy router spells {rest*}: the router gets a copy so written.
	routed, err := openapi3.NewLoader().LoadFromData([]byte(strings.ReplaceAll(string(api.OpenAPI()), "/{rest}:", "/{rest*}:")))
	if err != nil {
		t.Fatal(err)
	}
	routed.Servers = nil
	g.router, err = legacy.NewRouter(routed)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// oasCall is one request of the validation run.
type oasCall struct {
	method, path string
	header       []string // name, value, name, value…
	body         string
	chunked      bool // send body without Content-Length
	stall        bool // declare body's length, send its first byte, then nothing (408)
	control      bool // add the Bearer control token
	// invalidRequest: the request deliberately breaks the document (a malformed token, an
	// unknown JSON field): only the response is validated.
	invalidRequest bool
}

// exchange is a sent request and its validated response.
type exchange struct {
	resp *http.Response
	body []byte
}

func (e *exchange) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.body, &m); err != nil {
		t.Fatalf("body %q: %v", e.body, err)
	}
	return m
}

// do sends c, validates the exchange against the document and checks the status.
func (g *oasGateway) do(t *testing.T, c oasCall, wantStatus int) *exchange {
	t.Helper()
	var rd io.Reader
	if c.body != "" {
		rd = strings.NewReader(c.body)
		if c.chunked {
			rd = io.MultiReader(rd)
		}
	}
	req, err := http.NewRequest(c.method, g.url+c.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.chunked {
		req.ContentLength = -1
	}
	if c.stall {
		pr, pw := io.Pipe()
		go func() { _, _ = pw.Write([]byte(c.body[:1])) }()
		defer pw.Close()
		req.Body, req.ContentLength = pr, int64(len(c.body))
	}
	if c.control {
		req.Header.Set("Authorization", "Bearer "+oasControl)
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", c.method, c.path, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: got %d %s, want %d", c.method, c.path, resp.StatusCode, body, wantStatus)
	}
	g.validate(t, c, resp, body)
	return &exchange{resp: resp, body: body}
}

// validate checks one exchange against the operation the document gives for it.
func (g *oasGateway) validate(t *testing.T, c oasCall, resp *http.Response, body []byte) {
	t.Helper()
	ctx := context.Background()
	// A fresh request for the validator, carrying what was sent.
	req, err := http.NewRequest(c.method, g.url+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	if c.control {
		req.Header.Set("Authorization", "Bearer "+oasControl)
	}
	route, params, err := g.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in openapi.yaml: %v", c.method, c.path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if !c.invalidRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Fatalf("%s %s: the request does not match openapi.yaml: %v", c.method, c.path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Fatalf("%s %s → %d: the response does not match openapi.yaml: %v\nheaders: %v\nbody: %s",
			c.method, c.path, resp.StatusCode, err, resp.Header, body)
	}
	// ValidateResponse passes HEAD and 304 answers without a look: check their status and
	// headers here (and every other answer's headers a second time).
	ref := route.Operation.Responses.Status(resp.StatusCode)
	if ref == nil || ref.Value == nil {
		t.Fatalf("%s %s → %d: status not in openapi.yaml", c.method, c.path, resp.StatusCode)
	}
	for name, h := range ref.Value.Headers {
		if err := oasCheckHeader(name, h.Value, resp.Header); err != nil {
			t.Fatalf("%s %s → %d: %v", c.method, c.path, resp.StatusCode, err)
		}
	}
	if (c.method == http.MethodHead || resp.StatusCode == http.StatusNotModified || resp.StatusCode == http.StatusNoContent) && len(body) != 0 {
		t.Fatalf("%s %s → %d: a body of %d bytes", c.method, c.path, resp.StatusCode, len(body))
	}
	if resp.StatusCode >= 400 && len(body) > 0 && c.path != "/readyz" { // every error body but the probe's
		var e struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.RequestID != resp.Header.Get("X-Request-Id") {
			t.Fatalf("%s %s → %d: request_id %q, X-Request-Id %q", c.method, c.path, resp.StatusCode, e.RequestID, resp.Header.Get("X-Request-Id"))
		}
	}
	g.mu.Lock()
	g.seen[oasKey(route.Method, strings.ReplaceAll(route.Path, "{rest*}", "{rest}"), resp.StatusCode)] = true
	g.mu.Unlock()
}

func oasKey(method, path string, status int) string {
	return method + " " + path + " " + strconv.Itoa(status)
}

// oasCheckHeader checks a documented response header: present when required, and its value
// valid against the header's schema.
func oasCheckHeader(name string, h *openapi3.Header, got http.Header) error {
	values := got.Values(name)
	if len(values) == 0 {
		if h.Required {
			return fmt.Errorf("required header %s is missing", name)
		}
		return nil
	}
	if h.Schema == nil || h.Schema.Value == nil {
		return nil
	}
	s := h.Schema.Value
	raw := strings.Join(values, ", ")
	var v any = raw
	if s.Type.Is(openapi3.TypeInteger) {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("header %s: %q is not an integer", name, raw)
		}
		v = float64(n)
	}
	if err := s.VisitJSON(v); err != nil {
		return fmt.Errorf("header %s: %q: %v", name, raw, err)
	}
	return nil
}

// mintJSON creates a token from a whole POST /token body and returns it.
func (g *oasGateway) mintJSON(t *testing.T, body string) string {
	t.Helper()
	e := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: []string{"Content-Type", "application/json"}, body: body},
		http.StatusCreated)
	return e.json(t)["token"].(string)
}

// mint creates a token and returns it (through the validated path).
func (g *oasGateway) mint(t *testing.T, fields string) string {
	t.Helper()
	e := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: []string{"Content-Type", "application/json"},
		body: `{"bucket":"local","key":"docs/report.txt",` + fields + `}`}, http.StatusCreated)
	return e.json(t)["token"].(string)
}

// coverage fails the test for every documented (operation, status) never seen.
func (g *oasGateway) coverage(t *testing.T, doc *openapi3.T, also ...*oasGateway) {
	t.Helper()
	seen := map[string]bool{}
	for _, x := range append([]*oasGateway{g}, also...) {
		for k := range x.seen {
			seen[k] = true
		}
		for k := range x.unchecked {
			seen[k] = true
		}
	}
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				n, err := strconv.Atoi(status)
				if err != nil {
					t.Errorf("%s %s: response %q is not a status code", method, path, status)
					continue
				}
				if k := oasKey(method, path, n); !seen[k] {
					missing = append(missing, k)
				}
			}
		}
	}
	slices.Sort(missing)
	for _, k := range missing {
		t.Errorf("documented but never exercised: %s", k)
	}
}

func TestOpenAPIResponses(t *testing.T) {
	doc := oasLoad(t)
	g := newOASGateway(t, api.RateLimit{})
	jsonCT := []string{"Content-Type", "application/json"}
	const origin = "https://app.example.com"

	t.Run("operations", func(t *testing.T) {
		g.do(t, oasCall{method: "GET", path: "/healthz", header: []string{"X-Request-Id", "trace-1.2:3_4"}}, 200)
		g.do(t, oasCall{method: "GET", path: "/readyz"}, 200)
		g.notReady.Store(true)
		e := g.do(t, oasCall{method: "GET", path: "/readyz"}, 503)
		g.notReady.Store(false)
		if checks := e.json(t)["checks"].(map[string]any); checks["store"] != "unreachable" || checks["bucket local"] != "ok" {
			t.Fatalf("readyz checks: %v", checks)
		}
		g.do(t, oasCall{method: "GET", path: "/metrics"}, 200)
	})

	t.Run("openapi.yaml", func(t *testing.T) {
		e := g.do(t, oasCall{method: "GET", path: "/openapi.yaml"}, 200)
		if !bytes.Equal(e.body, api.OpenAPI()) {
			t.Fatal("GET /openapi.yaml is not the embedded document")
		}
	})

	var putTok, getTok, etag string
	t.Run("POST /token", func(t *testing.T) {
		putTok = g.mint(t, `"method":"PUT","token":"openapi-put-token-0001","size":1024,"callback":"https://hooks.example.com/in"`)
		if s3 := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"local","key":"k","method":"GET","s3":true}`}, 201).json(t)["s3"]; s3 == nil {
			t.Fatal(`"s3": true answered no credentials`)
		}
		g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"local","key":"k","method":"GET","max_hit":1}`, invalidRequest: true}, 400)
		g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"nope","key":"k","method":"GET","expires_in":60,"expire_at":1}`}, 400)
		g.do(t, oasCall{method: "POST", path: "/token", header: jsonCT, body: `{"bucket":"local","key":"k","method":"GET"}`}, 401)
		g.do(t, oasCall{method: "POST", path: "/token", header: append([]string{"Authorization", "Bearer wrong"}, jsonCT...),
			body: `{"bucket":"local","key":"k","method":"GET"}`}, 403)
		g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"local","key":"k","method":"GET","token":"openapi-put-token-0001"}`}, 409)
		g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"local","key":"` + strings.Repeat("k", 5000) + `","method":"GET"}`, invalidRequest: true}, 413)
		g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"local","key":"k","method":"GET"}`, stall: true}, 408)
		g.store.mode.Store(1)
		g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT, body: `{"bucket":"local","key":"k","method":"GET"}`}, 503)
		g.store.mode.Store(2)
		g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT, body: `{"bucket":"local","key":"k","method":"GET"}`}, 500)
		g.store.mode.Store(0)
	})

	t.Run("PUT /object", func(t *testing.T) {
		path := "/object/" + putTok
		// Refused before anything is stored.
		g.do(t, oasCall{method: "PUT", path: path, body: strings.Repeat("x", 2000)}, 413)
		g.store.mode.Store(1)
		g.do(t, oasCall{method: "PUT", path: path, body: "x"}, 503)
		g.store.mode.Store(2)
		g.do(t, oasCall{method: "PUT", path: path, body: "x"}, 500)
		g.store.mode.Store(0)
		g.do(t, oasCall{method: "PUT", path: "/object/openapi-unknown-token-01", body: "x"}, 404)
		g.do(t, oasCall{method: "PUT", path: "/object/short", body: "x", invalidRequest: true}, 404)
		getOnly := g.mint(t, `"method":"GET"`)
		g.do(t, oasCall{method: "PUT", path: "/object/" + getOnly, body: "x"}, 405)
		expiring := g.mint(t, `"method":"PUT","expires_in":1`)
		g.clock.Advance(2 * time.Second)
		g.do(t, oasCall{method: "PUT", path: "/object/" + expiring, body: "x"}, 410)
		toBroken := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"broken","key":"k","method":"PUT"}`}, 201).json(t)["token"].(string)
		g.do(t, oasCall{method: "PUT", path: "/object/" + toBroken, body: "x"}, 502)
		g.do(t, oasCall{method: "PUT", path: path, body: "hello", stall: true}, 408) // the hit is handed back
		g.oasUnreadableBody(t, putTok)

		// The upload, chunked, from a page on an allowed origin; then the token is used up.
		e := g.do(t, oasCall{method: "PUT", path: path, body: "hello, openapi", chunked: true,
			header: []string{"Content-Type", "text/plain", "Origin", origin}}, 200)
		if e.resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("no CORS grant on the upload: %v", e.resp.Header)
		}
		etag = e.json(t)["etag"].(string)
		g.do(t, oasCall{method: "PUT", path: path, body: "again"}, 409)
	})

	t.Run("DELETE /object", func(t *testing.T) {
		mintKey := func(method string) string {
			e := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
				body: `{"bucket":"local","key":"trash/x","method":"` + method + `"}`}, http.StatusCreated)
			return e.json(t)["token"].(string)
		}
		put := mintKey("PUT")
		g.do(t, oasCall{method: "PUT", path: "/object/" + put, body: "bye"}, 200)
		del := mintKey("DELETE")
		g.do(t, oasCall{method: "DELETE", path: "/object/" + del}, 204)
		g.do(t, oasCall{method: "DELETE", path: "/object/" + del}, 409)
		g.do(t, oasCall{method: "DELETE", path: "/object/openapi-unknown-token-01"}, 404)
		g.do(t, oasCall{method: "DELETE", path: "/object/" + put}, 405)
		expiring := g.mint(t, `"method":"DELETE","expires_in":1`)
		g.clock.Advance(2 * time.Second)
		g.do(t, oasCall{method: "DELETE", path: "/object/" + expiring}, 410)
		toBroken := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"broken","key":"k","method":"DELETE"}`}, 201).json(t)["token"].(string)
		g.do(t, oasCall{method: "DELETE", path: "/object/" + toBroken}, 502)
		elsewhere := g.mintJSON(t, `{"bucket":"local","key":"trash/x","method":"DELETE","ip":["10.0.0.0/8"]}`)
		g.do(t, oasCall{method: "DELETE", path: "/object/" + elsewhere}, 403)
		for mode, status := range map[int32]int{1: 503, 2: 500} {
			g.store.mode.Store(mode)
			g.do(t, oasCall{method: "DELETE", path: "/object/" + del}, status)
			g.store.mode.Store(0)
		}
	})

	t.Run("OPTIONS /object", func(t *testing.T) {
		e := g.do(t, oasCall{method: "OPTIONS", path: "/object/" + putTok, header: []string{
			"Origin", origin, "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "content-type"}}, 204)
		if e.resp.Header.Get("Access-Control-Allow-Methods") == "" || e.resp.Header.Get("Access-Control-Max-Age") != "600" {
			t.Fatalf("preflight not granted: %v", e.resp.Header)
		}
		g.do(t, oasCall{method: "OPTIONS", path: "/object/anything-at-all-0001"}, 204)
	})

	t.Run("GET and HEAD /object", func(t *testing.T) {
		getTok = g.mint(t, `"method":"GET","filename":"说明 \"Report\".txt","max_hits":20`)
		path := "/object/" + getTok
		e := g.do(t, oasCall{method: "GET", path: path, header: []string{"Origin", origin}}, 200)
		if string(e.body) != "hello, openapi" || e.resp.Header.Get("Content-Disposition") == "" {
			t.Fatalf("GET: %q %v", e.body, e.resp.Header)
		}
		e = g.do(t, oasCall{method: "GET", path: path, header: []string{"Range", "bytes=7-"}}, 206)
		if string(e.body) != "openapi" {
			t.Fatalf("range: %q", e.body)
		}
		g.do(t, oasCall{method: "GET", path: path, header: []string{"Range", "bytes=0-1", "If-Range", `"stale"`}}, 200)
		g.do(t, oasCall{method: "GET", path: path, header: []string{"If-None-Match", `"` + etag + `"`}}, 304)
		g.do(t, oasCall{method: "GET", path: path, header: []string{"If-Match", `"stale"`}}, 412)
		e = g.do(t, oasCall{method: "GET", path: path, header: []string{"Range", "bytes=100-"}}, 416)
		if e.resp.Header.Get("Content-Range") != "bytes */14" {
			t.Fatalf("416 Content-Range: %q", e.resp.Header.Get("Content-Range"))
		}
		g.do(t, oasCall{method: "HEAD", path: path, header: []string{"Origin", origin}}, 200)
		g.do(t, oasCall{method: "HEAD", path: path, header: []string{"If-Modified-Since", time.Now().UTC().Add(time.Hour).Format(http.TimeFormat)}}, 304)
		g.do(t, oasCall{method: "HEAD", path: path, header: []string{"If-Unmodified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}}, 412)

		g.do(t, oasCall{method: "GET", path: "/object/openapi-unknown-token-01"}, 404)
		g.do(t, oasCall{method: "HEAD", path: "/object/openapi-unknown-token-01"}, 404)
		missing := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"local","key":"no/such/object","method":"GET"}`}, 201).json(t)["token"].(string)
		if e := g.do(t, oasCall{method: "GET", path: "/object/" + missing}, 404); e.json(t)["code"] != "object_not_found" {
			t.Fatalf("missing object: %s", e.body)
		}
		headOnly := g.mint(t, `"method":"HEAD"`)
		g.do(t, oasCall{method: "GET", path: "/object/" + headOnly}, 405)
		once := g.mint(t, `"method":"GET","max_hits":1`)
		g.do(t, oasCall{method: "GET", path: "/object/" + once}, 200)
		g.do(t, oasCall{method: "GET", path: "/object/" + once}, 409)
		expiring := g.mint(t, `"method":"GET","expires_in":1`)
		g.clock.Advance(2 * time.Second)
		g.do(t, oasCall{method: "GET", path: "/object/" + expiring}, 410)
		g.do(t, oasCall{method: "HEAD", path: "/object/" + expiring}, 410)
		fromBroken := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"broken","key":"k","method":"GET"}`}, 201).json(t)["token"].(string)
		g.do(t, oasCall{method: "GET", path: "/object/" + fromBroken}, 502)
		g.do(t, oasCall{method: "HEAD", path: "/object/" + fromBroken}, 502)
		for mode, status := range map[int32]int{1: 503, 2: 500} {
			g.store.mode.Store(mode)
			g.do(t, oasCall{method: "GET", path: path}, status)
			g.do(t, oasCall{method: "HEAD", path: path}, status)
			g.store.mode.Store(0)
		}
	})

	t.Run("POST /token with the optional fields", func(t *testing.T) {
		sum := sha256.Sum256([]byte("<svg/>"))
		put := g.mintJSON(t, `{"bucket":"local","key":"up/picture.svg","method":"PUT","content_types":["image/svg+xml","text/*"],`+
			`"sha256":"`+strings.ToUpper(hex.EncodeToString(sum[:]))+`","metadata":{"owner":"user-42","trace-id":"a b"},"if_none_match":true,`+
			`"ip":["127.0.0.1","::1","10.1.2.3/8"],"disposition":"attachment","cache_control":"private, max-age=60","delivery":"stream"}`)
		rec := g.do(t, oasCall{method: "GET", path: "/token/" + put, control: true}, 200).json(t)
		if fmt.Sprint(rec["ip"]) != "[127.0.0.1/32 ::1/128 10.0.0.0/8]" || rec["if_none_match"] != true || rec["sha256"] != hex.EncodeToString(sum[:]) ||
			rec["delivery"] != "stream" || rec["disposition"] != "attachment" || rec["cache_control"] != "private, max-age=60" {
			t.Fatalf("record: %v", rec)
		}
		g.do(t, oasCall{method: "PUT", path: "/object/" + put, body: "<svg/>", header: []string{"Content-Type", "image/svg+xml"}}, 200)
		st := g.do(t, oasCall{method: "GET", path: "/token/" + put + "/status", control: true}, 200).json(t)
		if st["uploaded"] != true || st["metadata"] == nil {
			t.Fatalf("status: %v", st)
		}
		prefix := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"GET","disposition":"inline"}`)
		if rec := g.do(t, oasCall{method: "GET", path: "/token/" + prefix, control: true}, 200).json(t); rec["prefix"] != "tree/" || rec["key"] != "" || rec["disposition"] != "inline" {
			t.Fatalf("prefix record: %v", rec)
		}
		list := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"LIST"}`)
		if rec := g.do(t, oasCall{method: "GET", path: "/token/" + list, control: true}, 200).json(t); rec["method"] != "LIST" {
			t.Fatalf("LIST record: %v", rec)
		}

		// Refusals the document's schema lets through, and ones it does not.
		for _, c := range []struct {
			body    string
			invalid bool // the document refuses the request too
			mention string
		}{
			{`{"bucket":"local","key":"k","method":"LIST"}`, false, "LIST needs a prefix"},
			{`{"bucket":"local","prefix":"p/","method":"PUT"}`, false, "method"},
			{`{"bucket":"local","key":"k","method":"GET","delivery":"redirect"}`, false, "delivery"},
			{`{"bucket":"broken","key":"k","method":"PUT","delivery":"redirect","sha256":"` + strings.Repeat("0", 64) + `"}`, false, "delivery"},
			{`{"bucket":"local","key":"k","method":"GET","content_types":["image/png"],"if_none_match":true}`, false, "only for PUT"},
			{`{"bucket":"local","key":"k","method":"PUT","metadata":{"Bad Name":"v"}}`, false, "metadata"},
			{`{"bucket":"local","key":"k","method":"GET","ip":["10.0.0.0/40"]}`, false, "ip[0]"},
			{`{"bucket":"local","key":"k","prefix":"p/","method":"GET"}`, true, "not both"},
			{`{"bucket":"local","key":"k","method":"PUT","content_types":["*/*"]}`, true, "content_types[0]"},
			{`{"bucket":"local","key":"k","method":"PUT","sha256":"abc"}`, true, "sha256"},
			{`{"bucket":"local","key":"k","method":"GET","disposition":"download"}`, true, "disposition"},
			{`{"bucket":"local","key":"k","method":"GET","delivery":"pigeon"}`, true, "delivery"},
		} {
			e := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT, body: c.body, invalidRequest: c.invalid}, 400)
			if msg, _ := e.json(t)["message"].(string); !strings.Contains(msg, c.mention) {
				t.Errorf("%s: message %q lacks %q", c.body, msg, c.mention)
			}
		}
	})

	t.Run("POST /tokens", func(t *testing.T) {
		body := `{"tokens":[{"bucket":"local","key":"batch/a","method":"GET","filename":"a.txt","s3":true},` +
			`{"bucket":"local","key":"batch/b","method":"GET","token":"openapi-put-token-0001"},` +
			`{"bucket":"local","prefix":"batch/","method":"LIST","max_hits":3}]}`
		var out struct {
			Tokens []map[string]any
		}
		e := g.do(t, oasCall{method: "POST", path: "/tokens", control: true, header: jsonCT, body: body}, 200)
		if err := json.Unmarshal(e.body, &out); err != nil || len(out.Tokens) != 3 {
			t.Fatalf("batch: %s", e.body)
		}
		if r := out.Tokens; r[0]["status"] != 201.0 || r[0]["filename"] != "a.txt" || r[1]["status"] != 409.0 || r[1]["code"] != "token_exists" ||
			r[2]["status"] != 201.0 || r[2]["method"] != "LIST" {
			t.Fatalf("results: %v", r)
		}
		g.do(t, oasCall{method: "GET", path: "/token/" + out.Tokens[2]["token"].(string), control: true}, 200)

		e = g.do(t, oasCall{method: "POST", path: "/tokens", control: true, header: jsonCT,
			body: `{"tokens":[{"bucket":"local","key":"a","method":"GET"},{"bucket":"nope","key":"b","method":"GET"}]}`}, 400)
		if msg := e.json(t)["message"].(string); !strings.Contains(msg, "tokens[1].bucket") {
			t.Fatalf("batch refusal: %q", msg)
		}
		g.do(t, oasCall{method: "POST", path: "/tokens", control: true, header: jsonCT, body: `{"tokens":[]}`, invalidRequest: true}, 400)
		g.do(t, oasCall{method: "POST", path: "/tokens", control: true, header: jsonCT,
			body: `{"tokens":[{"bucket":"local","key":"a","method":"GET","max_hit":2}]}`, invalidRequest: true}, 400)
		g.do(t, oasCall{method: "POST", path: "/tokens", header: jsonCT, body: `{"tokens":[{"bucket":"local","key":"a","method":"GET"}]}`}, 401)
		g.do(t, oasCall{method: "POST", path: "/tokens", header: append([]string{"Authorization", "Bearer wrong"}, jsonCT...),
			body: `{"tokens":[{"bucket":"local","key":"a","method":"GET"}]}`}, 403)
		items := strings.Repeat(`{"bucket":"local","key":"batch/many","method":"GET"},`, 100)
		g.do(t, oasCall{method: "POST", path: "/tokens", control: true, header: jsonCT, body: `{"tokens":[` + items[:len(items)-1] + `]}`}, 413)
		g.do(t, oasCall{method: "POST", path: "/tokens", control: true, header: jsonCT, body: `{"tokens":[{"bucket":"local","key":"a","method":"GET"}]}`, stall: true}, 408)
		for mode, status := range map[int32]int{1: 503, 2: 500} {
			g.store.mode.Store(mode)
			g.do(t, oasCall{method: "POST", path: "/tokens", control: true, header: jsonCT, body: `{"tokens":[{"bucket":"local","key":"a","method":"GET"}]}`}, status)
			g.store.mode.Store(0)
		}
	})

	t.Run("PUT /object with constraints", func(t *testing.T) {
		sum := sha256.Sum256([]byte("expected"))
		checked := g.mintJSON(t, `{"bucket":"local","key":"up/checked.bin","method":"PUT","sha256":"`+hex.EncodeToString(sum[:])+`"}`)
		e := g.do(t, oasCall{method: "PUT", path: "/object/" + checked, body: "tampered"}, 400)
		if e.json(t)["code"] != "checksum_mismatch" {
			t.Fatalf("checksum: %s", e.body)
		}
		g.do(t, oasCall{method: "PUT", path: "/object/" + checked, body: "expected"}, 200)
		typed := g.mintJSON(t, `{"bucket":"local","key":"up/typed.png","method":"PUT","content_types":["image/*"]}`)
		g.do(t, oasCall{method: "PUT", path: "/object/" + typed, body: "x", header: []string{"Content-Type", "text/plain"}}, 415)
		once := g.mintJSON(t, `{"bucket":"local","key":"docs/report.txt","method":"PUT","if_none_match":true}`)
		g.do(t, oasCall{method: "PUT", path: "/object/" + once, body: "overwrite?"}, 412)
		elsewhere := g.mintJSON(t, `{"bucket":"local","key":"up/far.bin","method":"PUT","ip":["10.0.0.0/8","2001:db8::/32"]}`)
		g.do(t, oasCall{method: "PUT", path: "/object/" + elsewhere, body: "x"}, 403)
		// Redirect delivery: a presigned PUT URL that binds the length and type.
		redirected := g.mintJSON(t, `{"bucket":"broken","key":"up/direct.bin","method":"PUT","delivery":"redirect"}`)
		e = g.do(t, oasCall{method: "PUT", path: "/object/" + redirected, body: "direct", header: []string{"Content-Type", "text/plain"}}, 307)
		loc := e.resp.Header.Get("Location")
		if !strings.HasPrefix(loc, g.s3URL+"/b/up/direct.bin?") || !strings.Contains(loc, "content-length%3Bcontent-type") {
			t.Fatalf("Location %q", loc)
		}
		if rec := g.do(t, oasCall{method: "GET", path: "/token/" + redirected, control: true}, 200).json(t); rec["used_hits"] != 1.0 || rec["delivery"] != "redirect" {
			t.Fatalf("after the redirect: %v", rec)
		}
	})

	t.Run("redirect, listing and client binding on /object/{token}", func(t *testing.T) {
		for _, k := range []string{"tree/a.txt", "tree/b.txt", "tree/sub/c.txt"} {
			put := g.mintJSON(t, `{"bucket":"local","key":"`+k+`","method":"PUT"}`)
			g.do(t, oasCall{method: "PUT", path: "/object/" + put, body: "data of " + k}, 200)
		}
		redirected := g.mintJSON(t, `{"bucket":"broken","key":"dir/r.bin","method":"GET","delivery":"redirect","filename":"r.bin","disposition":"inline","cache_control":"max-age=60"}`)
		e := g.do(t, oasCall{method: "GET", path: "/object/" + redirected, header: []string{"Origin", origin, "Range", "bytes=0-1"}}, 307)
		loc := e.resp.Header.Get("Location")
		if !strings.HasPrefix(loc, g.s3URL+"/b/dir/r.bin?") || !strings.Contains(loc, "response-content-disposition=inline") ||
			!strings.Contains(loc, "response-cache-control=max-age") || e.resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("redirect: %v", e.resp.Header)
		}
		g.do(t, oasCall{method: "HEAD", path: "/object/" + redirected}, 502) // HEAD is answered by the gateway itself

		list := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"LIST"}`)
		var page struct {
			Objects []struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
			} `json:"objects"`
			Truncated bool   `json:"truncated"`
			NextAfter string `json:"next_after"`
		}
		e = g.do(t, oasCall{method: "GET", path: "/object/" + list + "?limit=2"}, 200)
		if err := json.Unmarshal(e.body, &page); err != nil || len(page.Objects) != 2 || page.Objects[0].Key != "a.txt" || !page.Truncated || page.NextAfter != "b.txt" {
			t.Fatalf("first page: %s", e.body)
		}
		e = g.do(t, oasCall{method: "GET", path: "/object/" + list + "?after=b.txt"}, 200)
		page.NextAfter = ""
		if err := json.Unmarshal(e.body, &page); err != nil || len(page.Objects) != 1 || page.Objects[0].Key != "sub/c.txt" || page.Truncated || page.NextAfter != "" {
			t.Fatalf("second page: %s", e.body)
		}
		g.do(t, oasCall{method: "HEAD", path: "/object/" + list}, 200)
		g.do(t, oasCall{method: "GET", path: "/object/" + list + "?limit=0", invalidRequest: true}, 400)
		g.do(t, oasCall{method: "HEAD", path: "/object/" + list + "?limit=1001", invalidRequest: true}, 400)
		g.do(t, oasCall{method: "PUT", path: "/object/" + list, body: "x"}, 405)

		elsewhere := g.mintJSON(t, `{"bucket":"local","key":"tree/a.txt","method":"GET","ip":["10.0.0.0/8"]}`)
		g.do(t, oasCall{method: "GET", path: "/object/" + elsewhere}, 403)
		g.do(t, oasCall{method: "HEAD", path: "/object/" + elsewhere}, 403)
		if rec := g.do(t, oasCall{method: "GET", path: "/token/" + elsewhere, control: true}, 200).json(t); rec["used_hits"] != 0.0 {
			t.Fatalf("a refused address used a hit: %v", rec)
		}
		inline := g.mintJSON(t, `{"bucket":"local","key":"tree/a.txt","method":"GET","disposition":"inline","cache_control":"public, max-age=60"}`)
		e = g.do(t, oasCall{method: "GET", path: "/object/" + inline}, 200)
		if e.resp.Header.Get("Content-Disposition") != "inline" || e.resp.Header.Get("Cache-Control") != "public, max-age=60" {
			t.Fatalf("inline: %v", e.resp.Header)
		}
		prefix := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"GET"}`)
		if e := g.do(t, oasCall{method: "GET", path: "/object/" + prefix}, 404); e.json(t)["code"] != "object_not_found" {
			t.Fatalf("a prefix by itself: %s", e.body)
		}
	})

	t.Run("GET and HEAD /object/{token}/{rest}", func(t *testing.T) {
		prefix := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"GET","filename":"from-the-prefix.txt"}`)
		base := "/object/" + prefix + "/"
		e := g.do(t, oasCall{method: "GET", path: base + "sub/c.txt", header: []string{"Origin", origin}}, 200)
		if string(e.body) != "data of tree/sub/c.txt" {
			t.Fatalf("GET under the prefix: %q", e.body)
		}
		tag := strings.Trim(e.resp.Header.Get("ETag"), `"`)
		e = g.do(t, oasCall{method: "GET", path: base + "sub/c.txt", header: []string{"Range", "bytes=-6"}}, 206)
		if string(e.body) != "/c.txt" {
			t.Fatalf("range under the prefix: %q", e.body)
		}
		g.do(t, oasCall{method: "GET", path: base + "sub/c.txt", header: []string{"If-None-Match", `"` + tag + `"`}}, 304)
		g.do(t, oasCall{method: "GET", path: base + "sub/c.txt", header: []string{"If-Match", `"stale"`}}, 412)
		g.do(t, oasCall{method: "GET", path: base + "sub/c.txt", header: []string{"Range", "bytes=1000-"}}, 416)
		g.do(t, oasCall{method: "GET", path: base + "sub%2Fc.txt"}, 400)
		g.do(t, oasCall{method: "GET", path: base + "a%01.txt"}, 400)
		g.do(t, oasCall{method: "GET", path: base + "sub/"}, 400)
		g.do(t, oasCall{method: "GET", path: base + "missing.txt"}, 404)
		g.do(t, oasCall{method: "GET", path: "/object/openapi-unknown-token-01/a.txt"}, 404)
		g.do(t, oasCall{method: "HEAD", path: base + "a.txt", header: []string{"Origin", origin}}, 200)
		g.do(t, oasCall{method: "HEAD", path: base + "a.txt", header: []string{"If-None-Match", "*"}}, 304)
		g.do(t, oasCall{method: "HEAD", path: base + "a.txt", header: []string{"If-Unmodified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}}, 412)
		g.do(t, oasCall{method: "HEAD", path: base + "sub%2Fc.txt"}, 400)
		g.do(t, oasCall{method: "HEAD", path: base + "missing.txt"}, 404)
		g.do(t, oasCall{method: "OPTIONS", path: base + "sub/c.txt", header: []string{
			"Origin", origin, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range"}}, 204)

		headOnly := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"HEAD"}`)
		g.do(t, oasCall{method: "GET", path: "/object/" + headOnly + "/a.txt"}, 405)
		once := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"GET","max_hits":1}`)
		g.do(t, oasCall{method: "GET", path: "/object/" + once + "/a.txt"}, 200)
		g.do(t, oasCall{method: "GET", path: "/object/" + once + "/b.txt"}, 409)
		elsewhere := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"GET","ip":["192.0.2.0/24"]}`)
		g.do(t, oasCall{method: "GET", path: "/object/" + elsewhere + "/a.txt"}, 403)
		g.do(t, oasCall{method: "HEAD", path: "/object/" + elsewhere + "/a.txt"}, 403)
		expiring := g.mintJSON(t, `{"bucket":"local","prefix":"tree/","method":"GET","expires_in":1}`)
		g.clock.Advance(2 * time.Second)
		g.do(t, oasCall{method: "GET", path: "/object/" + expiring + "/a.txt"}, 410)
		g.do(t, oasCall{method: "HEAD", path: "/object/" + expiring + "/a.txt"}, 410)
		fromBroken := g.mintJSON(t, `{"bucket":"broken","prefix":"tree/","method":"GET"}`)
		g.do(t, oasCall{method: "GET", path: "/object/" + fromBroken + "/a.txt"}, 502)
		g.do(t, oasCall{method: "HEAD", path: "/object/" + fromBroken + "/a.txt"}, 502)
		redirected := g.mintJSON(t, `{"bucket":"broken","prefix":"hls/show/","method":"GET","delivery":"redirect"}`)
		e = g.do(t, oasCall{method: "GET", path: "/object/" + redirected + "/seg/001.ts"}, 307)
		if loc := e.resp.Header.Get("Location"); !strings.HasPrefix(loc, g.s3URL+"/b/hls/show/seg/001.ts?") {
			t.Fatalf("Location %q", loc)
		}
		for mode, status := range map[int32]int{1: 503, 2: 500} {
			g.store.mode.Store(mode)
			g.do(t, oasCall{method: "GET", path: base + "a.txt"}, status)
			g.do(t, oasCall{method: "HEAD", path: base + "a.txt"}, status)
			g.store.mode.Store(0)
		}
	})

	t.Run("GET and DELETE /token/{token}", func(t *testing.T) {
		e := g.do(t, oasCall{method: "GET", path: "/token/" + putTok, control: true}, 200)
		if rec := e.json(t); rec["used_hits"] != 1.0 || rec["size"] != 1024.0 {
			t.Fatalf("record: %v", rec)
		}
		for _, p := range []string{"/token/" + getTok, "/token/" + getTok + "/status"} {
			g.do(t, oasCall{method: "GET", path: p}, 401)
			g.do(t, oasCall{method: "GET", path: p, header: []string{"Authorization", "Bearer wrong"}}, 403)
			g.do(t, oasCall{method: "GET", path: strings.Replace(p, getTok, "openapi-unknown-token-01", 1), control: true}, 404)
			for mode, status := range map[int32]int{1: 503, 2: 500} {
				g.store.mode.Store(mode)
				g.do(t, oasCall{method: "GET", path: p, control: true}, status)
				g.store.mode.Store(0)
			}
		}
		e = g.do(t, oasCall{method: "GET", path: "/token/" + putTok + "/status", control: true}, 200)
		if st := e.json(t); st["uploaded"] != true || st["object_exists"] != true || st["etag"] != etag {
			t.Fatalf("status: %v", st)
		}
		fromBroken := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: jsonCT,
			body: `{"bucket":"broken","key":"k","method":"GET"}`}, 201).json(t)["token"].(string)
		g.do(t, oasCall{method: "GET", path: "/token/" + fromBroken + "/status", control: true}, 502)

		path := "/token/" + getTok
		g.do(t, oasCall{method: "DELETE", path: path}, 401)
		g.do(t, oasCall{method: "DELETE", path: path, header: []string{"Authorization", "Bearer wrong"}}, 403)
		for mode, status := range map[int32]int{1: 503, 2: 500} {
			g.store.mode.Store(mode)
			g.do(t, oasCall{method: "DELETE", path: path, control: true}, status)
			g.store.mode.Store(0)
		}
		g.do(t, oasCall{method: "DELETE", path: path, control: true}, 204)
		g.do(t, oasCall{method: "DELETE", path: path, control: true}, 404)
		g.do(t, oasCall{method: "GET", path: "/object/" + getTok}, 404)
		g.do(t, oasCall{method: "GET", path: "/token/x", control: true, invalidRequest: true}, 404)
	})

	t.Run("tus", func(t *testing.T) { g.exerciseTus(t) })

	t.Run("callbacks", func(t *testing.T) {
		e := g.do(t, oasCall{method: "GET", path: "/callbacks/failed?limit=10", control: true}, 200)
		if list := e.json(t)["failed"].([]any); len(list) != 1 {
			t.Fatalf("failed: %s", e.body)
		}
		g.do(t, oasCall{method: "GET", path: "/callbacks/failed?limit=5000", control: true, invalidRequest: true}, 400)
		g.do(t, oasCall{method: "GET", path: "/callbacks/failed"}, 401)
		g.do(t, oasCall{method: "GET", path: "/callbacks/failed", header: []string{"Authorization", "Bearer wrong"}}, 403)
		g.do(t, oasCall{method: "POST", path: "/callbacks/failed/msg_2Qh4xV/retry", control: true}, 202)
		g.do(t, oasCall{method: "POST", path: "/callbacks/failed/msg_unknown/retry", control: true}, 404)
		g.do(t, oasCall{method: "POST", path: "/callbacks/failed/msg_2Qh4xV/retry"}, 401)
		g.do(t, oasCall{method: "POST", path: "/callbacks/failed/msg_2Qh4xV/retry", header: []string{"Authorization", "Basic eDp5"}}, 401)
		g.do(t, oasCall{method: "POST", path: "/callbacks/failed/msg_2Qh4xV/retry", header: []string{"Authorization", "Bearer wrong"}}, 403)
		g.dead.broken.Store(true)
		g.do(t, oasCall{method: "GET", path: "/callbacks/failed", control: true}, 503)
		g.do(t, oasCall{method: "POST", path: "/callbacks/failed/msg_2Qh4xV/retry", control: true}, 503)
		g.dead.broken.Store(false)
	})

	t.Run("uppy", g.oasUppy)

	t.Run("router errors", func(t *testing.T) {
		// Not operations of the document, but their bodies are its Error schema.
		errSchema := doc.Components.Schemas["Error"].Value
		for _, c := range []struct {
			method, path string
			status       int
			allow        string
		}{
			{"GET", "/nope", 404, ""},
			{"POST", "/healthz", 405, "GET, HEAD"},
			{"PATCH", "/token/" + putTok, 405, "DELETE, GET, HEAD"},
		} {
			req, _ := http.NewRequest(c.method, g.url+c.path, nil)
			req.Header.Set("Authorization", "Bearer "+oasControl)
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var v any
			if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || json.Unmarshal(body, &v) != nil {
				t.Fatalf("%s %s: got %d Allow %q %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), body)
			}
			if err := errSchema.VisitJSON(v); err != nil {
				t.Fatalf("%s %s: %v", c.method, c.path, err)
			}
		}
	})

	limited := newOASGateway(t, api.RateLimit{PerMinute: 1, Burst: 1})
	t.Run("429", func(t *testing.T) {
		// One failure spends the whole budget; then every operation that checks a token refuses.
		limited.do(t, oasCall{method: "GET", path: "/token/openapi-unknown-token-01", header: []string{"Authorization", "Bearer wrong"}}, 403)
		for _, c := range []oasCall{
			{method: "POST", path: "/token", header: jsonCT, body: `{"bucket":"local","key":"k","method":"GET"}`},
			{method: "GET", path: "/token/openapi-unknown-token-01"},
			{method: "DELETE", path: "/token/openapi-unknown-token-01"},
			{method: "GET", path: "/token/openapi-unknown-token-01/status"},
			{method: "GET", path: "/callbacks/failed"},
			{method: "POST", path: "/callbacks/failed/msg_2Qh4xV/retry"},
			{method: "GET", path: "/object/openapi-unknown-token-01"},
			{method: "HEAD", path: "/object/openapi-unknown-token-01"},
			{method: "PUT", path: "/object/openapi-unknown-token-01", body: "x"},
			{method: "DELETE", path: "/object/openapi-unknown-token-01"},
			{method: "POST", path: "/tokens", header: jsonCT, body: `{"tokens":[{"bucket":"local","key":"k","method":"GET"}]}`},
			{method: "GET", path: "/object/openapi-unknown-token-01/a/b.ts"},
			{method: "HEAD", path: "/object/openapi-unknown-token-01/a/b.ts"},
			{method: "GET", path: "/uppy/openapi-unknown-token-01/s3/params"},
			{method: "POST", path: "/uppy/openapi-unknown-token-01/s3/multipart", header: jsonCT, body: `{"type":"text/plain"}`},
			{method: "GET", path: "/uppy/openapi-unknown-token-01/s3/multipart/AAAAAAAAAAAAAAAAAAAAAA/1?key=k"},
			{method: "GET", path: "/uppy/openapi-unknown-token-01/s3/multipart/AAAAAAAAAAAAAAAAAAAAAA?key=k"},
			{method: "DELETE", path: "/uppy/openapi-unknown-token-01/s3/multipart/AAAAAAAAAAAAAAAAAAAAAA?key=k"},
			{method: "POST", path: "/uppy/openapi-unknown-token-01/s3/multipart/AAAAAAAAAAAAAAAAAAAAAA/complete?key=k",
				header: jsonCT, body: `{"parts":[{"PartNumber":1,"ETag":"x"}]}`},
		} {
			limited.do(t, c, 429)
		}
		limitedTus(t, limited)
		// A valid control token is refused too until the budget refills (no oracle).
		limited.do(t, oasCall{method: "GET", path: "/token/openapi-unknown-token-01", control: true}, 429)
	})

	g.coverage(t, doc, limited)
}

// oasUnreadableBody sends an upload whose chunked encoding is broken: 400 bad_request. Go's
// client cannot send one, so it is written by hand.
func (g *oasGateway) oasUnreadableBody(t *testing.T, tok string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path := "/object/" + tok
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n", path)
	req, _ := http.NewRequest("PUT", g.url+path, nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("broken chunked upload: got %d %s, want 400", resp.StatusCode, body)
	}
	g.validate(t, oasCall{method: "PUT", path: path, invalidRequest: true}, resp, body)
}
