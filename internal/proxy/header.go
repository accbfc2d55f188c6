package proxy

import (
	"net"
	"net/netip"
	"strings"
	"unicode/utf8"
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
