package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	algorithm   = "AWS4-HMAC-SHA256"
	iso8601     = "20060102T150405Z"
	yyyymmdd    = "20060102"
	terminator  = "aws4_request"
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// param is one query parameter, decoded once.
type param struct{ key, value string }

// parseQuery decodes raw the way S3 does: pairs split on '&', name and value split on the
// first '=', each percent-decoded once with '+' meaning a space. Empty pairs are skipped.
// A bad escape is an error (net/url would silently drop the pair).
func parseQuery(raw string) ([]param, error) {
	if raw == "" {
		return nil, nil
	}
	ps := make([]param, 0, strings.Count(raw, "&")+1)
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		ps = append(ps, param{dk, dv})
	}
	return ps, nil
}

// unreserved marks the bytes SigV4 leaves as they are: A-Z a-z 0-9 - . _ ~.
var unreserved = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~'
	}
	return t
}()

// appendEncoded appends s percent-encoded with S3's rules (uppercase hex; '/' kept when
// keepSlash, for the path).
func appendEncoded(dst []byte, s string, keepSlash bool) []byte {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved[c] || c == '/' && keepSlash {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

// appendCanonicalURI appends the decoded path re-encoded once. No normalization: S3 keys may
// hold "//", "./" and "../".
func appendCanonicalURI(dst []byte, path string) []byte {
	if path == "" {
		return append(dst, '/')
	}
	return appendEncoded(dst, path, true)
}

// appendCanonicalQuery appends the pairs encoded, then sorted by name and value (the spec sorts
// after encoding), leaving out skip (the presigned signature) when it is not empty.
func appendCanonicalQuery(dst []byte, ps []param, skip string) []byte {
	if len(ps) == 0 {
		return dst
	}
	enc := make([]param, 0, len(ps))
	var buf []byte
	for _, p := range ps {
		if skip != "" && p.key == skip {
			continue
		}
		buf = appendEncoded(buf[:0], p.key, false)
		k := string(buf)
		buf = appendEncoded(buf[:0], p.value, false)
		enc = append(enc, param{k, string(buf)})
	}
	slices.SortFunc(enc, func(a, b param) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for i, p := range enc {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	return dst
}

// headerValues returns a signed header's values as the client sent them. Go's server moves
// Transfer-Encoding to r.TransferEncoding, and drops Content-Length from a
// chunked request; those are read back from where they went.
func headerValues(r *http.Request, name string) []string {
	if vs, ok := r.Header[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return vs
	}
	switch name {
	case "transfer-encoding":
		return r.TransferEncoding
	case "content-length":
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	for k, vs := range r.Header { // a spelling CanonicalMIMEHeaderKey leaves alone
		if strings.EqualFold(k, name) {
			return vs
		}
	}
	return nil // signed but absent: signed as empty
}

// requestHost is the Host the client sent: r.Host on a server, else the URL's host.
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// appendHeaderValue appends v trimmed, with inner runs of spaces collapsed to one.
func appendHeaderValue(dst []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// appendCanonicalHeaders appends "name:value\n" for each signed header (already lowercase and
// sorted), several values joined with ','. host is always the request's Host.
func appendCanonicalHeaders(dst []byte, r *http.Request, signed []string) []byte {
	for _, name := range signed {
		dst = append(dst, name...)
		dst = append(dst, ':')
		var vs []string
		if name == "host" {
			vs = []string{requestHost(r)}
		} else {
			vs = headerValues(r, name)
		}
		for i, v := range vs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendHeaderValue(dst, v)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// canonicalRequest builds the canonical request S3 computes for r.
func canonicalRequest(r *http.Request, query []param, skip string, signed []string, payload string) []byte {
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, r.URL.Path)
	b = append(b, '\n')
	b = appendCanonicalQuery(b, query, skip)
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, r, signed)
	b = append(b, '\n')
	for i, h := range signed {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, h...)
	}
	b = append(b, '\n')
	return append(b, payload...)
}

// scope is the credential scope: date/region/service/aws4_request.
func scope(date, region, service string) string {
	return date + "/" + region + "/" + service + "/" + terminator
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// deriveKey is the SigV4 signing key for one day, region and service.
func deriveKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

// signer computes the signatures of one request: the request's, then its chunks' and
// trailer's, which chain from it.
type signer struct {
	mac     hash.Hash // HMAC-SHA256 under the signing key
	amzDate string
	scope   string
}

func newSigner(key []byte, amzDate, scope string) *signer {
	return &signer{mac: hmac.New(sha256.New, key), amzDate: amzDate, scope: scope}
}

// requestSignature is the seed: the signature of the canonical request.
func (s *signer) requestSignature(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return s.finish(algorithm, hex.EncodeToString(sum[:]))
}

// chunkSignature signs one aws-chunked chunk, chained to the previous signature.
func (s *signer) chunkSignature(prev string, chunkSHA256 []byte) string {
	return s.finish("AWS4-HMAC-SHA256-PAYLOAD", prev, emptySHA256, hex.EncodeToString(chunkSHA256))
}

// trailerSignature signs the canonical trailer ("name:value\n" lines), chained likewise.
func (s *signer) trailerSignature(prev string, canonicalTrailer []byte) string {
	sum := sha256.Sum256(canonicalTrailer)
	return s.finish("AWS4-HMAC-SHA256-TRAILER", prev, hex.EncodeToString(sum[:]))
}

// finish signs alg, date, scope and parts joined by '\n' (no newline after the last).
func (s *signer) finish(alg string, parts ...string) string {
	b := make([]byte, 0, 256)
	b = append(append(append(append(append(b, alg...), '\n'), s.amzDate...), '\n'), s.scope...)
	for _, p := range parts {
		b = append(append(b, '\n'), p...)
	}
	s.mac.Reset()
	_, _ = s.mac.Write(b)
	return hex.EncodeToString(s.mac.Sum(b[:0]))
}

// equalSignature compares hex signatures in constant time.
func equalSignature(got, want string) bool {
	return hmac.Equal([]byte(got), []byte(want))
}
