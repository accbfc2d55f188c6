// Package byterange reads and writes the byte ranges of HTTP: the Range request header
// (RFC 9110 §14.2) and the Content-Range response header (§14.4). It is the one parser of
// both for the gateway, its object stores and its Go client.
package byterange

import (
	"fmt"
	"strconv"
	"strings"
)

// Range is one byte range as a client asked for it, before it is resolved against an
// object's size.
//
//	bytes=10-19  → {First: 10, Last: 19}
//	bytes=10-    → {First: 10, Last: -1}
//	bytes=-500   → {First: -1, Last: 500}   (the final 500 bytes)
type Range struct {
	First int64
	Last  int64
}

// Parse parses a Range header. It returns nil — serve the whole object with 200 — when the
// header is absent, syntactically invalid, uses a unit other than bytes, or asks for several
// ranges (as S3 does: multipart/byteranges is not offered). A single valid range is returned
// as asked; whether it fits the object is decided by Resolve.
func Parse(h string) *Range {
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
		n, ok := digits(last)
		if !ok {
			return nil
		}
		return &Range{First: -1, Last: n}
	}
	a, ok := digits(first)
	if !ok {
		return nil
	}
	if last == "" {
		return &Range{First: a, Last: -1}
	}
	b, ok := digits(last)
	if !ok || b < a {
		return nil
	}
	return &Range{First: a, Last: b}
}

// Valid returns r, or nil when r is not a range RFC 9110 allows (last before first, or
// neither end given): such a range is ignored and the whole object served.
func Valid(r *Range) *Range {
	if r == nil || (r.First < 0 && r.Last < 0) || (r.First >= 0 && r.Last >= 0 && r.Last < r.First) {
		return nil
	}
	return r
}

// HeaderValue formats r as a Range header value ("bytes=10-19").
func (r Range) HeaderValue() string {
	switch {
	case r.First < 0:
		return "bytes=-" + strconv.FormatInt(r.Last, 10)
	case r.Last < 0:
		return "bytes=" + strconv.FormatInt(r.First, 10) + "-"
	default:
		return fmt.Sprintf("bytes=%d-%d", r.First, r.Last)
	}
}

// Resolve returns the offset and length r selects in an object of the given size, or
// ok=false when r is unsatisfiable (it starts at or past the end, or is an empty suffix).
func (r Range) Resolve(size int64) (start, length int64, ok bool) {
	if r.First < 0 { // suffix
		if r.Last <= 0 || size == 0 {
			return 0, 0, false
		}
		n := min(r.Last, size)
		return size - n, n, true
	}
	if r.First >= size {
		return 0, 0, false
	}
	end := size - 1
	if r.Last >= 0 && r.Last < end {
		end = r.Last
	}
	return r.First, end - r.First + 1, true
}

// Content is a Content-Range header: "bytes First-Last/Size", or "bytes */Size" for an
// unsatisfied range (First and Last -1). Size is -1 when the header says "*".
type Content struct {
	First, Last, Size int64
}

// ParseContent parses a Content-Range header value. A satisfied range must be consistent
// (First ≤ Last < Size, when Size is known).
func ParseContent(v string) (Content, bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return Content{}, false
	}
	span, total, found := strings.Cut(rest, "/")
	if !found {
		return Content{}, false
	}
	c := Content{First: -1, Last: -1, Size: -1}
	if total != "*" {
		n, ok := digits(total)
		if !ok {
			return Content{}, false
		}
		c.Size = n
	}
	if span == "*" {
		if c.Size < 0 {
			return Content{}, false
		}
		return c, true
	}
	a, b, found := strings.Cut(span, "-")
	first, ok1 := digits(a)
	last, ok2 := digits(b)
	if !found || !ok1 || !ok2 || last < first || (c.Size >= 0 && last >= c.Size) {
		return Content{}, false
	}
	c.First, c.Last = first, last
	return c, true
}

// String formats c as a Content-Range header value.
func (c Content) String() string {
	size := "*"
	if c.Size >= 0 {
		size = strconv.FormatInt(c.Size, 10)
	}
	if c.First < 0 {
		return "bytes */" + size
	}
	return fmt.Sprintf("bytes %d-%d/%s", c.First, c.Last, size)
}

// SizeOf returns the complete length a Content-Range value names after its "/", even when
// the span before it is malformed (some stores answer a range of an empty object with
// "bytes 0--1/0"); ok is false when the value names none.
func SizeOf(v string) (int64, bool) {
	i := strings.LastIndexByte(v, '/')
	if i < 0 || !strings.HasPrefix(v, "bytes ") {
		return 0, false
	}
	return digits(v[i+1:])
}

// digits parses a non-empty run of ASCII digits that fits in an int64.
func digits(s string) (int64, bool) {
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
