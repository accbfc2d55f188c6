package proxy

import (
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// Admit is the token.Request.Admit of request r, which uses its token as method (r.Method on
// /object; PUT for an S3 CreateMultipartUpload): it judges a client against a record that
// constrains its clients before anything else is checked or a hit reserved — the address
// first (403 ErrForbidden, whatever the token's state: an outsider learns nothing of it),
// then, for an upload on a token that is live and allows it, the media type of r's
// Content-Type (415).
func Admit(r *http.Request, method string, clientIP func(*http.Request) string, now func() time.Time) func(*token.Record) error {
	return func(rec *token.Record) error {
		if len(rec.IPs) > 0 && !ipAllowed(clientIP(r), rec.IPs) {
			return ErrForbidden
		}
		live := !expired(rec.ExpireAt, now()) && rec.Allows(method)
		if live && method == http.MethodPut && len(rec.ContentTypes) > 0 &&
			!mediaAllowed(r.Header.Get("Content-Type"), rec.ContentTypes) {
			return ErrUnsupportedMediaType
		}
		return nil
	}
}

// ipAllowed reports whether ip is in one of the CIDRs.
func ipAllowed(ip string, cidrs []string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// mediaAllowed reports whether an upload's Content-Type (parameters aside) is one of the
// allowed media types or ranges ("image/*"). A range never admits an active type
// (image/svg+xml is not an "image/*" here): such a type must be listed by name.
func mediaAllowed(contentType string, allowed []string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	active := Active(mt)
	for _, a := range allowed {
		a = strings.ToLower(a)
		if a == mt || !active && strings.HasSuffix(a, "/*") && strings.HasPrefix(mt, a[:len(a)-1]) {
			return true
		}
	}
	return false
}

// scriptTypes are media types a browser runs script from, or renders a document from that
// can (besides every "+xml" type and every JavaScript/ECMAScript spelling, see Active).
var scriptTypes = map[string]bool{
	"text/html": true, "application/xhtml+xml": true, "image/svg+xml": true, "text/xml": true,
	"application/xml": true, "text/xsl": true, "application/xslt+xml": true, "text/jscript": true,
	"text/livescript": true, "multipart/x-mixed-replace": true, "application/x-shockwave-flash": true,
	"application/futuresplash": true,
	// Types a browser may sniff into one of the above: they name no real type.
	"unknown/unknown": true, "application/unknown": true, "*/*": true,
}

// Active reports whether an object of this Content-Type could run script on the gateway's
// origin when a browser navigates to it: HTML, XHTML, SVG, XML of any kind ("+xml"), XSL,
// JavaScript, Flash, multipart/x-mixed-replace — and a type that names nothing (empty,
// unparseable, "unknown/unknown", "application/unknown", "*/*"), which a browser may sniff
// into one of those. Every other type is shown or saved as what it is: every response
// carries "X-Content-Type-Options: nosniff", so a browser never reads HTML into, say,
// text/plain or application/x-whatever (those are saved). PDF is passive here: browsers
// show it in a viewer isolated from the page's origin.
//
// Active objects are served with a sandboxing Content-Security-Policy and as attachments
// unless the token asks for inline (setObjectHeaders); an upload wildcard ("image/*") never
// admits one (mediaAllowed).
func Active(contentType string) bool {
	mt, ok := mediaType(contentType)
	if !ok || strings.HasSuffix(mt, "+xml") || scriptTypes[mt] {
		return true
	}
	_, sub, _ := strings.Cut(mt, "/")
	return strings.Contains(sub, "javascript") || strings.Contains(sub, "ecmascript")
}

// mediaType returns a Content-Type's media type, lower case, without parameters; ok is false
// when it is not one. The common case (a plain lower-case type) costs no allocation.
func mediaType(contentType string) (string, bool) {
	plain := contentType != "" && strings.IndexFunc(contentType, func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || strings.ContainsRune("/+-.", r))
	}) < 0
	if plain && strings.Count(contentType, "/") == 1 && !strings.HasPrefix(contentType, "/") && !strings.HasSuffix(contentType, "/") {
		return contentType, true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return mt, err == nil
}

// sandboxPolicy is the Content-Security-Policy of an active object: a unique opaque origin
// (no scripts, no forms, no plugins, no access to the gateway's cookies or storage) and no
// subresources.
const sandboxPolicy = "sandbox; default-src 'none'"

// expired reports whether a token expiring at expireAt (Unix s) has expired at now.
func expired(expireAt int64, now time.Time) bool { return now.UnixMilli() >= expireAt*1000 }
