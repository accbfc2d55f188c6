package objstore

import (
	"strconv"
	"strings"
)

// ParseRange parses a Range header. It returns nil — serve the whole object with 200 — when
// the header is absent, syntactically invalid, uses a unit other than bytes, or asks for
// several ranges (as S3 does: multipart/byteranges is not offered). A single valid range is
// returned as asked; whether it fits the object is decided against the object's size.
func ParseRange(h string) *Range {
	h = strings.TrimSpace(h)
	if len(h) < 6 || !strings.EqualFold(h[:6], "bytes=") {
		return nil
	}
	spec := strings.TrimSpace(h[6:])
	if strings.Contains(spec, ",") {
		return nil
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" { // suffix: bytes=-N
		n, ok := parseDigits(last)
		if !ok {
			return nil
		}
		return &Range{First: -1, Last: n}
	}
	a, ok := parseDigits(first)
	if !ok {
		return nil
	}
	if last == "" {
		return &Range{First: a, Last: -1}
	}
	b, ok := parseDigits(last)
	if !ok || b < a {
		return nil
	}
	return &Range{First: a, Last: b}
}

// parseDigits parses a non-empty run of ASCII digits that fits in an int64.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
