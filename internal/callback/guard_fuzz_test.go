package callback

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// fixedResolver answers every name with one address (tests have no DNS).
type fixedResolver netip.Addr

func (r fixedResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.Addr(r)}, nil
}

// FuzzCheckURL: CheckURL never panics. Whatever it accepts is an http or https URL with a
// host and no user info, within the length limit, free of spaces and control bytes, that Go's
// HTTP client sends to the same host; when every name resolves to loopback, only literal
// public addresses pass. A refusal wraps ErrBadTarget and never repeats the URL.
func FuzzCheckURL(f *testing.F) {
	public := &Guard{Resolver: fixedResolver(netip.MustParseAddr("93.184.215.14"))}
	private := &Guard{Resolver: fixedResolver(netip.MustParseAddr("127.0.0.1"))}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		err := public.CheckURL(ctx, raw)
		if err != nil {
			if !errors.Is(err, ErrBadTarget) {
				t.Fatalf("CheckURL(%q) = %v, want an error wrapping ErrBadTarget", raw, err)
			}
			if strings.Contains(raw, "://") && strings.Contains(err.Error(), raw) {
				t.Fatalf("CheckURL(%q): the error repeats the URL: %v", raw, err)
			}
			if private.CheckURL(ctx, raw) == nil {
				t.Fatalf("CheckURL(%q): refused with public answers, accepted with private ones", raw)
			}
			return
		}
		if len(raw) > MaxURLLength {
			t.Fatalf("CheckURL accepted a %d-byte URL", len(raw))
		}
		for i := 0; i < len(raw); i++ {
			if c := raw[i]; c <= ' ' || c == 0x7f {
				t.Fatalf("CheckURL(%q) accepted byte %#x", raw, c)
			}
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("CheckURL(%q) accepted a URL that does not parse: %v", raw, perr)
		}
		if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
			t.Fatalf("CheckURL(%q) accepted scheme %q", raw, u.Scheme)
		}
		if u.User != nil || u.Hostname() == "" || u.Opaque != "" {
			t.Fatalf("CheckURL(%q) accepted user info, an opaque URL or no host", raw)
		}
		req, rerr := http.NewRequest(http.MethodPost, raw, nil)
		if rerr != nil {
			t.Fatalf("CheckURL(%q) accepted a URL the HTTP client refuses: %v", raw, rerr)
		}
		if req.URL.Hostname() != u.Hostname() || req.URL.Port() != u.Port() {
			t.Fatalf("CheckURL(%q): the HTTP client would connect to %q, the check saw %q", raw, req.URL.Host, u.Host)
		}
		if ip, ok, _ := literalIP(u.Hostname()); ok && Denied(ip) {
			t.Fatalf("CheckURL(%q) accepted denied address %s", raw, ip)
		}
		if private.CheckURL(ctx, raw) == nil {
			ip, ok, lerr := literalIP(u.Hostname())
			if !ok || lerr != nil || Denied(ip) {
				t.Fatalf("CheckURL(%q) accepted a name that resolves to loopback", raw)
			}
		}
	})
}
