// Package api is AssetGateway's HTTP surface: the route table, the control API (/token…),
// the error writer that gives every failure the contract's flat JSON shape, request ids and
// the access log. /object/{token} is served by package proxy and mounted here.
package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/internal/edge"
	"github.com/assetgateway/assetgateway/internal/metrics"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/tus"
)

// Tokens is what the control API needs from the token store.
type Tokens interface {
	Create(ctx context.Context, tok string, rec token.Record) error
	CreateMany(ctx context.Context, items []token.Item) ([]error, error)
	Get(ctx context.Context, tok string) (token.Record, error)
	Delete(ctx context.Context, tok string) error
}

// Objects serves /object/{token}.
type Objects interface {
	Get(w http.ResponseWriter, r *http.Request) error // GET and HEAD
	Put(w http.ResponseWriter, r *http.Request) error
	Delete(w http.ResponseWriter, r *http.Request) error
}

// Uppy serves Uppy's S3 endpoints, /uppy/{token}/s3/… (internal/uppy): direct uploads to
// the bucket with presigned parts.
type Uppy interface {
	Params(w http.ResponseWriter, r *http.Request) error
	Create(w http.ResponseWriter, r *http.Request) error
	SignPart(w http.ResponseWriter, r *http.Request) error
	ListParts(w http.ResponseWriter, r *http.Request) error
	Complete(w http.ResponseWriter, r *http.Request) error
	Abort(w http.ResponseWriter, r *http.Request) error
	// Direct reports whether the PUT tokens of a bucket alias may upload directly.
	Direct(alias string) bool
}

// Tus serves tus resumable uploads: /tus/{token} and /tus/{token}/{upload} (internal/tus).
type Tus interface {
	Options(w http.ResponseWriter, r *http.Request) error
	Create(w http.ResponseWriter, r *http.Request) error
	Head(w http.ResponseWriter, r *http.Request) error
	Patch(w http.ResponseWriter, r *http.Request) error
	Terminate(w http.ResponseWriter, r *http.Request) error
}

// Bucket is what the control API needs from one bucket alias: a live HEAD for /status.
type Bucket interface {
	Head(ctx context.Context, key string, c objstore.Conditions) (objstore.ObjectInfo, error)
}

// KeyChecker is implemented by buckets that accept fewer keys than S3 does (a local
// directory); keys they refuse are rejected when a token is minted.
type KeyChecker interface {
	CheckKey(key string) error
}

// URLChecker vets callback URLs at mint time (the SSRF guard): one verdict per URL, all in
// one bounded wait.
type URLChecker interface {
	CheckURLs(ctx context.Context, raws []string) []error
}

// Options configures the API.
type Options struct {
	Tokens  Tokens
	Objects Objects
	// Uppy serves /uppy/…; nil: no such routes, and no uppy_endpoint in PUT tokens.
	Uppy Uppy
	// Tus serves /tus/…; nil: no tus routes, and no tus_url in minted PUT tokens.
	Tus     Tus
	Buckets map[string]Bucket
	// ControlTokens are the accepted Bearer tokens; at least one.
	ControlTokens []string
	// Host is the public base URL used in returned urls, e.g. "https://gw.example.com".
	Host string
	// MaxTTL caps a token's lifetime.
	MaxTTL time.Duration
	// MaxBody caps a control request's JSON body (413 request_too_large past it). Required
	// (server.max_control_body: internal/config owns the default).
	MaxBody int64
	// Redirects names the bucket aliases that can hand out presigned URLs (redirect
	// delivery); a token asking for redirect elsewhere is refused at mint time.
	Redirects map[string]bool
	// Callbacks vets callback URLs; nil accepts any http(s) URL.
	Callbacks URLChecker
	// DeadLetters serves /callbacks/failed; nil: those routes answer 404.
	DeadLetters DeadLetters
	// CORS lets page scripts on other origins use /object; zero: no CORS headers.
	CORS CORS
	// S3 hands out S3 credentials with tokens minted "s3": true; nil: refused.
	S3 *S3
	// RateLimit throttles clients that keep failing token checks; zero: off.
	RateLimit RateLimit
	// Metrics records request metrics and serves /metrics; nil: no metrics.
	Metrics *metrics.Metrics
	// Ready are the readiness checks of /readyz that decide it, by name ("store"); Advisory
	// are reported beside them but decide nothing ("bucket assets"). Each is given
	// ReadyTimeout.
	Ready        map[string]func(context.Context) error
	Advisory     map[string]func(context.Context) error
	ReadyTimeout time.Duration
	// ClientIP returns a request's client address; nil means the TCP peer.
	ClientIP func(*http.Request) string
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// API is the gateway's http.Handler.
type API struct {
	tokens    Tokens
	objects   Objects
	uppy      Uppy
	tus       Tus
	buckets   map[string]Bucket
	redirects map[string]bool
	control   [][sha256.Size]byte // SHA-256 of each control token
	host      string
	maxTTL    time.Duration
	maxBody   int64
	callbacks URLChecker
	dead      DeadLetters
	cors      *cors
	s3        *S3
	limit     *limiter
	metrics   *metrics.Metrics
	ready     map[string]func(context.Context) error
	advisory  map[string]func(context.Context) error
	readyWait time.Duration
	clientIP  func(*http.Request) string
	log       *slog.Logger
	now       func() time.Time
	mux       *http.ServeMux
}

// New builds the API and its route table.
func New(o Options) *API {
	a := &API{
		tokens:    o.Tokens,
		objects:   o.Objects,
		uppy:      o.Uppy,
		tus:       o.Tus,
		buckets:   o.Buckets,
		redirects: o.Redirects,
		host:      strings.TrimRight(o.Host, "/"),
		maxTTL:    o.MaxTTL,
		maxBody:   o.MaxBody,
		callbacks: o.Callbacks,
		dead:      o.DeadLetters,
		cors:      newCORS(o.CORS),
		s3:        o.S3,
		metrics:   o.Metrics,
		ready:     o.Ready,
		advisory:  o.Advisory,
		readyWait: o.ReadyTimeout,
		clientIP:  o.ClientIP,
		log:       o.Logger,
		now:       o.Now,
		mux:       http.NewServeMux(),
	}
	if o.MaxBody <= 0 {
		panic("api: Options.MaxBody is required (server.max_control_body)")
	}
	for _, t := range o.ControlTokens {
		a.control = append(a.control, sha256.Sum256([]byte(t)))
	}
	if a.clientIP == nil {
		a.clientIP = (&ClientIP{}).Of
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.limit = newLimiter(o.RateLimit, a.now)
	if a.readyWait <= 0 {
		a.readyWait = 2 * time.Second
	}
	a.routes()
	return a
}

// routes is the whole route table. A GET pattern also serves HEAD.
func (a *API) routes() {
	m := a.mux
	m.HandleFunc("GET /healthz", a.handle(a.healthz))
	m.HandleFunc("GET /readyz", a.handle(a.readyz))
	m.HandleFunc("GET /openapi.yaml", a.handle(openAPI))
	if a.metrics != nil {
		m.Handle("GET /metrics", a.metrics.Handler())
	}

	m.HandleFunc("POST /token", a.handle(a.createToken))
	m.HandleFunc("POST /tokens", a.handle(a.createTokens))
	m.HandleFunc("GET /token/{token}", a.handle(a.getToken))
	m.HandleFunc("DELETE /token/{token}", a.handle(a.deleteToken))
	m.HandleFunc("GET /token/{token}/status", a.handle(a.tokenStatus))

	if a.dead != nil {
		m.HandleFunc("GET /callbacks/failed", a.handle(a.listFailed))
		m.HandleFunc("POST /callbacks/failed/{id}/retry", a.handle(a.retryFailed))
	}

	m.HandleFunc("GET /object/{token}", a.handle(a.objects.Get))
	m.HandleFunc("PUT /object/{token}", a.handle(a.objects.Put))
	m.HandleFunc("DELETE /object/{token}", a.handle(a.objects.Delete))
	m.HandleFunc("OPTIONS /object/{token}", a.handle(a.preflight))
	// A prefix token names its object after itself: /object/{token}/{key under the prefix}.
	m.HandleFunc("GET /object/{token}/{rest...}", a.handle(a.objects.Get))
	m.HandleFunc("OPTIONS /object/{token}/{rest...}", a.handle(a.preflight))

	if u := a.uppy; u != nil {
		m.HandleFunc("GET /uppy/{token}/s3/params", a.handle(u.Params))
		m.HandleFunc("POST /uppy/{token}/s3/multipart", a.handle(u.Create))
		m.HandleFunc("GET /uppy/{token}/s3/multipart/{upload}/{part}", a.handle(u.SignPart))
		m.HandleFunc("GET /uppy/{token}/s3/multipart/{upload}", a.handle(u.ListParts))
		m.HandleFunc("POST /uppy/{token}/s3/multipart/{upload}/complete", a.handle(u.Complete))
		m.HandleFunc("DELETE /uppy/{token}/s3/multipart/{upload}", a.handle(u.Abort))
		m.HandleFunc("OPTIONS /uppy/{token}/{rest...}", a.handle(a.uppyPreflight))
	}
	if a.tus != nil {
		m.HandleFunc("POST /tus/{token}", a.handle(a.tus.Create))
		m.HandleFunc("OPTIONS /tus/{token}", a.handle(a.tusOptions))
		m.HandleFunc("HEAD /tus/{token}/{upload}", a.handle(a.tus.Head))
		m.HandleFunc("PATCH /tus/{token}/{upload}", a.handle(a.tus.Patch))
		m.HandleFunc("DELETE /tus/{token}/{upload}", a.handle(a.tus.Terminate))
		m.HandleFunc("OPTIONS /tus/{token}/{upload}", a.handle(a.tusOptions))
	}
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.serve(w, r) }

// isControl reports whether a path belongs to the control API (Bearer token required).
func isControl(path string) bool {
	for _, p := range []string{"/token", "/tokens", "/callbacks"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// route dispatches a request: control paths are authorized before routing (so unknown
// methods and paths under /token reveal nothing without a control token), and the mux's own
// 404 and 405 answers get the contract's JSON shape.
func (a *API) route(w *responseWriter, r *http.Request) {
	tusPath := strings.HasPrefix(r.URL.Path, "/tus/")
	if tusPath {
		w.Header().Set("Tus-Resumable", tus.Version) // every tus answer, errors included
	}
	// Uppy's and tus's endpoints check tokens as /object does: the same CORS, limiter and 404s.
	// A tus OPTIONS that is no CORS preflight looks the token up too.
	object := (strings.HasPrefix(r.URL.Path, "/object/") || strings.HasPrefix(r.URL.Path, "/uppy/") || tusPath) &&
		r.Method != http.MethodOptions
	if object {
		a.cors.allow(w, r) // set before anything is written: errors are readable too
	}
	object = object || tusPath
	control := isControl(r.URL.Path)
	if control || object {
		// A client over its failure budget is refused everything on these surfaces, a
		// correct token included: an answer that told a right guess from a wrong one would
		// make the limiter an oracle.
		if blocked, wait := a.limit.blocked(a.clientIP(r)); blocked {
			a.fail(w, r, tooMany(w, wait))
			return
		}
	}
	if control {
		if e := a.authorize(r); e != nil {
			a.limit.fail(a.clientIP(r))
			if e.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="assetgateway"`)
			}
			a.fail(w, r, e)
			return
		}
	}
	if _, pattern := a.mux.Handler(r); pattern == "" || !clean(r.URL.Path) {
		a.unrouted(w, r) // includes paths the mux would only redirect to a cleaned form
		return
	}
	a.mux.ServeHTTP(w, r)
	if object && w.code == "token_not_found" {
		a.limit.fail(a.clientIP(r))
	}
}

// clean reports whether p is already in the form the mux would redirect it to (no "//",
// "/./" or "/../"; a trailing slash is fine).
func clean(p string) bool {
	c := path.Clean(p)
	return c == p || strings.HasSuffix(p, "/") && c+"/" == p
}

// unrouted answers a request no route matches: 405 (with the mux's Allow header) when the
// path exists for other methods, else 404 — also for unclean paths the mux would redirect.
func (a *API) unrouted(w *responseWriter, r *http.Request) {
	h, _ := a.mux.Handler(r)
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch {
	case probe.status == http.StatusMethodNotAllowed:
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		a.fail(w, r, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "method not allowed on " + r.URL.Path})
	default: // including the mux's redirects of unclean paths ("//", ".."): no such endpoint
		a.fail(w, r, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such endpoint"})
	}
}

// statusProbe captures the status and headers the mux's fallback handler would send.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }

// handle adapts a handler that returns an error: the one place errors become responses.
func (a *API) handle(f func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			a.fail(w, r, err)
		}
	}
}

// statusClientGone is logged (never sent) for requests whose client left before the answer,
// as nginx does.
const statusClientGone = 499

// fail writes err as a contract error, unless the client is gone and nobody would read it.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	rw, _ := w.(*responseWriter)
	// A body the gateway cut (edge) also cancels the request's context: it is answered 408.
	gone := errors.Is(err, proxy.ErrClientGone) || errors.Is(r.Context().Err(), context.Canceled)
	if gone && !errors.Is(err, edge.ErrBodyTimeout) {
		// The client left (during a store call, an upload, …), or only half-closed its side
		// mid-body: the failure is not the gateway's, and returning would let net/http send
		// an implicit 200. The connection is cut instead (serve logs it as 499).
		if rw != nil && rw.status == 0 {
			rw.status, rw.code = statusClientGone, "client_gone"
		}
		panic(http.ErrAbortHandler)
	}
	e := classify(err)
	if rw != nil {
		rw.code = e.Code
		if e.Status >= 500 {
			rw.err = err
		}
	}
	writeError(w, r, e)
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
