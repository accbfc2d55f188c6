package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// ContentDisposition builds an RFC 6266 header value carrying filename twice: a quoted
// ASCII fallback (anything outside printable ASCII, and the quote and backslash that could
// break out of the quoted string, become '_') and an RFC 5987 filename* with the exact UTF-8
// name, which every current browser prefers.
func ContentDisposition(disposition, filename string) string {
	var b strings.Builder
	b.Grow(len(disposition) + 2*len(filename) + 32)
	b.WriteString(disposition)
	b.WriteString(`; filename="`)
	for _, r := range filename {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == utf8.RuneError {
			b.WriteByte('_')
			continue
		}
		b.WriteRune(r)
	}
	b.WriteString(`"; filename*=UTF-8''`)
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(filename); i++ {
		c := filename[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// isAttrChar reports whether c may appear unescaped in an RFC 5987 value (attr-char).
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// peerIP returns the IP part of a RemoteAddr ("1.2.3.4:5678" → "1.2.3.4"), unmapping
// IPv4-in-IPv6.
func peerIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// dispositionOf is the Content-Disposition of a download: the token's disposition
// ("attachment" or "inline") with its file name; "attachment" when the token has a file name
// or the object is active and the token said nothing; "" (the browser decides, and shows it)
// for a passive object the token said nothing about.
func dispositionOf(rec *token.Record, active bool) string {
	d := rec.Disposition
	if d == "" && (rec.Filename != "" || active) {
		d = "attachment"
	}
	if d == "" || rec.Filename == "" {
		return d
	}
	return ContentDisposition(d, rec.Filename)
}

// setObjectHeaders sets the headers GET and HEAD share. An active object (see Active) is
// sandboxed by its Content-Security-Policy and offered as an attachment unless the token
// asked for inline.
func setObjectHeaders(hdr http.Header, rec *token.Record, info objstore.ObjectInfo) {
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("Accept-Ranges", "bytes")
	if info.ETag != "" {
		// Spelled as S3 and the seed spell it; Header.Set would canonicalize it to "Etag".
		hdr["ETag"] = []string{`"` + info.ETag + `"`}
	}
	if !info.LastModified.IsZero() {
		hdr.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	}
	active := Active(ct)
	if cd := dispositionOf(rec, active); cd != "" {
		hdr.Set("Content-Disposition", cd)
	}
	if active {
		hdr.Set("Content-Security-Policy", sandboxPolicy)
	}
	setSafetyHeaders(hdr)
	if rec.CacheControl != "" {
		hdr.Set("Cache-Control", rec.CacheControl) // the minting backend's decision
	}
}

// setSafetyHeaders sets what every object response carries: every access is counted, so no
// shared cache may answer for the gateway; the URL is the credential, so it must not leak
// through Referer; and browsers must not sniff a type the store did not declare.
func setSafetyHeaders(hdr http.Header) {
	hdr.Set("Cache-Control", "private, no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
}

// conditions reads a request's preconditions. Unparseable dates are ignored, as RFC 9110
// asks.
func conditions(r *http.Request) objstore.Conditions {
	c := objstore.Conditions{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
	if v := r.Header.Get("If-Modified-Since"); v != "" {
		c.IfModifiedSince, _ = http.ParseTime(v)
	}
	if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		c.IfUnmodifiedSince, _ = http.ParseTime(v)
	}
	return c
}

// ifRangeHolds reports whether an If-Range validator still describes the object: an entity
// tag by strong comparison, or exactly its Last-Modified date (RFC 9110 §13.1.5).
func ifRangeHolds(v string, info objstore.ObjectInfo) bool {
	if strings.HasPrefix(v, "W/") {
		return false // a weak tag never validates a range
	}
	if strings.HasPrefix(v, `"`) {
		return info.ETag != "" && v == `"`+info.ETag+`"`
	}
	t, err := http.ParseTime(v)
	return err == nil && !info.LastModified.IsZero() && info.LastModified.Truncate(time.Second).Equal(t)
}

// notModified answers 304 with the validators and caching headers a 200 would have carried.
func notModified(w http.ResponseWriter, info objstore.ObjectInfo) {
	hdr := w.Header()
	if info.ETag != "" {
		hdr["ETag"] = []string{`"` + info.ETag + `"`}
	}
	if !info.LastModified.IsZero() {
		hdr.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	}
	setSafetyHeaders(hdr)
	w.WriteHeader(http.StatusNotModified)
}
