package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/tus"
)

// CORS lets page scripts on other origins use /object URLs.
type CORS struct {
	// AllowedOrigins are exact origins ("https://app.example.com") or "*".
	AllowedOrigins []string
	// MaxAge is how long a browser may cache a preflight answer; zero leaves it to the browser.
	MaxAge time.Duration
}

// cors is the compiled CORS policy.
type cors struct {
	anyOrigin bool
	origins   map[string]bool
	maxAge    string
}

func newCORS(c CORS) *cors {
	if len(c.AllowedOrigins) == 0 {
		return nil
	}
	p := &cors{origins: make(map[string]bool)}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			p.anyOrigin = true
		}
		p.origins[o] = true
	}
	if c.MaxAge > 0 {
		p.maxAge = strconv.Itoa(int(c.MaxAge / time.Second))
	}
	return p
}

// What page scripts may send and read. Tokens travel in the URL, never in cookies, so
// credentials are never allowed and "*" can be answered literally.
const (
	corsMethods = "GET, HEAD, PUT, DELETE"
	corsHeaders = "Content-Type, Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range, X-Request-Id"
	corsExpose  = "Content-Range, Content-Length, Content-Disposition, ETag, Accept-Ranges, Last-Modified, X-Request-Id"
)

// allow sets the response headers that let an allowed origin's script read the response —
// success or error alike — and reports whether the origin is allowed.
func (p *cors) allow(w http.ResponseWriter, r *http.Request) bool {
	if p == nil {
		return false
	}
	hdr := w.Header()
	if !p.anyOrigin {
		hdr.Add("Vary", "Origin")
	}
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return false
	case p.anyOrigin:
		hdr.Set("Access-Control-Allow-Origin", "*")
	case p.origins[origin]:
		hdr.Set("Access-Control-Allow-Origin", origin)
	default:
		return false
	}
	if strings.HasPrefix(r.URL.Path, "/tus/") {
		hdr.Set("Access-Control-Expose-Headers", tus.ResponseHeaders)
	} else {
		hdr.Set("Access-Control-Expose-Headers", corsExpose)
	}
	return true
}

// preflight answers OPTIONS /object/{token}: a CORS preflight when an allowed origin asks,
// else just the methods. It never looks at the token (a preflight carries no credentials).
func (a *API) preflight(w http.ResponseWriter, r *http.Request) error {
	hdr := w.Header()
	if proxy.BelowToken(r) {
		hdr.Set("Allow", "GET, HEAD, OPTIONS") // an object below a prefix token
	} else {
		hdr.Set("Allow", "GET, HEAD, PUT, DELETE, OPTIONS")
	}
	if r.Header.Get("Access-Control-Request-Method") != "" && a.cors.allow(w, r) {
		hdr.Del("Access-Control-Expose-Headers") // meaningless on a preflight
		hdr.Set("Access-Control-Allow-Methods", corsMethods)
		hdr.Set("Access-Control-Allow-Headers", corsHeaders)
		if a.cors.maxAge != "" {
			hdr.Set("Access-Control-Max-Age", a.cors.maxAge)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// uppyPreflight answers OPTIONS /uppy/…: a CORS preflight when an allowed origin asks
// (Uppy's JSON POSTs and its DELETE need one), else just the methods. It never looks at the
// token.
func (a *API) uppyPreflight(w http.ResponseWriter, r *http.Request) error {
	hdr := w.Header()
	hdr.Set("Allow", uppyMethods)
	if r.Header.Get("Access-Control-Request-Method") != "" && a.cors.allow(w, r) {
		hdr.Del("Access-Control-Expose-Headers")
		hdr.Set("Access-Control-Allow-Methods", uppyMethods)
		hdr.Set("Access-Control-Allow-Headers", "Content-Type, X-Request-Id")
		if a.cors.maxAge != "" {
			hdr.Set("Access-Control-Max-Age", a.cors.maxAge)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// uppyMethods are the methods of Uppy's endpoints.
const uppyMethods = "GET, POST, DELETE, OPTIONS"
