package api

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// Field limits of POST /token.
const (
	maxKeyBytes      = 1024
	maxFilenameBytes = 512
	maxCallbackBytes = 2048
	maxContentTypes  = 32
	maxIPs           = 32
	maxCacheControl  = 256
	maxMetadataBytes = 2048 // S3's limit on user metadata
	// defaultLifetime is a token's lifetime when the request gives none (the seed's rule).
	defaultLifetime = 1800 * time.Second
)

// minting is one create request being checked: the request, the record it builds, and every
// problem found, each naming its field. Each check looks at one field (or one rule between
// fields) and adds to both.
type minting struct {
	a        *API
	req      *createRequest
	now      time.Time
	tok      string
	rec      token.Record
	bucket   Bucket // nil when the alias is unknown
	problems []string
}

func (m *minting) bad(field, format string, args ...any) {
	m.problems = append(m.problems, field+": "+fmt.Sprintf(format, args...))
}

func (m *minting) put() bool { return m.req.Method == token.MethodPut }

// mintChecks run in this order; a later one may read what an earlier one settled.
var mintChecks = []func(*minting){
	(*minting).checkToken, (*minting).checkBucket, (*minting).checkObject, (*minting).checkFilename,
	(*minting).checkMethod, (*minting).checkExpiry, (*minting).checkHits, (*minting).checkSize,
	(*minting).checkDelivery, (*minting).checkUploadRules, (*minting).checkClients,
	(*minting).checkDownloadHeaders, (*minting).checkS3,
}

// validate checks every field of a create request and builds the record; callbackErr is the
// verdict on its callback URL (checked beforehand, so a batch looks its hosts up at once).
// All problems are reported together.
func (a *API) validate(req *createRequest, callbackErr error) (string, token.Record, []string) {
	m := &minting{a: a, req: req, now: a.now()}
	for _, check := range mintChecks {
		check(m)
	}
	if callbackErr != nil {
		m.bad("callback", "%s", strings.TrimPrefix(callbackErr.Error(), "callback: "))
	}
	if len(m.problems) > 0 {
		return "", token.Record{}, m.problems
	}
	m.rec.Callback = req.Callback
	return m.tok, m.rec, nil
}

func (m *minting) checkToken() {
	m.tok = m.req.Token
	if m.tok == "" {
		m.tok = token.Generate()
	} else if !token.WellFormed(m.tok) {
		m.bad("token", "must be %d–%d characters of A-Z a-z 0-9 _ -", token.MinLen, token.MaxLen)
	}
}

func (m *minting) checkBucket() {
	b, known := m.a.buckets[m.req.Bucket]
	switch {
	case m.req.Bucket == "":
		m.bad("bucket", "required")
	case !known:
		m.bad("bucket", "unknown bucket alias %q", truncate(m.req.Bucket, 64))
	default:
		m.bucket = b
	}
	m.rec.Bucket = m.req.Bucket
}

// checkObject: one object (key) or every object under a prefix.
func (m *minting) checkObject() {
	req := m.req
	field, path := "key", req.Key
	switch {
	case req.Key != "" && req.Prefix != "":
		m.bad("prefix", "give key or prefix, not both")
	case req.Prefix != "":
		field, path = "prefix", req.Prefix
	}
	if msg := checkText(path, maxKeyBytes); path == "" {
		m.bad("key", "required (or prefix)")
	} else if msg != "" {
		m.bad(field, "%s", msg)
	} else if scratch(field, path) {
		m.bad(field, "keys under %q are reserved for uploads in progress", upload.ScratchPrefix)
	} else if kc, ok := m.bucket.(KeyChecker); ok {
		// A file bucket's keys are paths: a prefix must be a path too, but may end in "/".
		if err := kc.CheckKey(strings.TrimSuffix(path, "/")); err != nil {
			m.bad(field, "not valid for bucket %q: %v", req.Bucket, err)
		}
	}
	m.rec.Key, m.rec.Prefix = req.Key, req.Prefix
}

// scratch reports whether a key, or the folder a prefix names (prefixes match whole
// segments), lies under the scratch space of uploads in progress.
func scratch(field, path string) bool {
	if field == "prefix" {
		path = strings.TrimSuffix(path, "/") + "/"
	}
	return strings.HasPrefix(path, upload.ScratchPrefix)
}

// checkFilename: the name goes into Content-Disposition; a Unicode format character (a bidi
// override such as U+202E, a zero-width one) could make a browser show another name than the
// one saved ("invoice‮fdp.exe").
func (m *minting) checkFilename() {
	if msg := checkText(m.req.Filename, maxFilenameBytes); msg != "" {
		m.bad("filename", "%s", msg)
	} else if strings.IndexFunc(m.req.Filename, isFormatChar) >= 0 {
		m.bad("filename", "contains Unicode format characters (bidi controls, zero-width characters)")
	}
	m.rec.Filename = m.req.Filename
}

func isFormatChar(r rune) bool { return unicode.Is(unicode.Cf, r) }

func (m *minting) checkMethod() {
	req := m.req
	methods := "GET, HEAD, PUT or DELETE"
	if req.Prefix != "" {
		methods = "GET, HEAD or LIST (a prefix token)"
	}
	switch req.Method {
	case token.MethodGet, token.MethodHead:
	case token.MethodPut, token.MethodDelete:
		if req.Prefix != "" {
			m.bad("method", "must be %s", methods)
		}
	case token.MethodList:
		if req.Prefix == "" {
			m.bad("method", "LIST needs a prefix instead of a key")
		}
	case "":
		m.bad("method", "required (%s)", methods)
	default:
		m.bad("method", "must be %s", methods)
	}
	m.rec.Method = req.Method
}

func (m *minting) checkExpiry() {
	req, maxTTL := m.req, m.a.maxTTL
	m.rec.ExpireAt = m.now.Add(min(defaultLifetime, maxTTL)).Unix()
	switch {
	case req.ExpireAt != nil && req.ExpiresIn != nil:
		m.bad("expires_in", "give expire_at or expires_in, not both")
	case req.ExpireAt != nil:
		m.rec.ExpireAt = *req.ExpireAt
		if m.rec.ExpireAt <= m.now.Unix() {
			m.bad("expire_at", "is in the past")
		} else if m.rec.ExpireAt > m.now.Add(maxTTL).Unix() {
			m.bad("expire_at", "is more than %s from now (token.max_ttl)", maxTTL)
		}
	case req.ExpiresIn != nil:
		in := *req.ExpiresIn
		if in <= 0 {
			m.bad("expires_in", "must be a positive number of seconds")
		} else if in > int64(maxTTL/time.Second) {
			m.bad("expires_in", "is more than %s (token.max_ttl)", maxTTL)
		} else {
			m.rec.ExpireAt = m.now.Unix() + in
		}
	}
}

func (m *minting) checkHits() {
	m.rec.MaxHits = token.Unlimited
	if m.put() || m.req.Method == token.MethodDelete {
		m.rec.MaxHits = 1 // one upload, one deletion
	}
	if m.req.MaxHits != nil {
		m.rec.MaxHits = *m.req.MaxHits
		if m.rec.MaxHits == 0 || m.rec.MaxHits < token.Unlimited {
			m.bad("max_hits", "must be a positive number or -1 (unlimited)")
		}
	}
}

func (m *minting) checkSize() {
	m.rec.Size = token.Unlimited
	if m.req.Size != nil {
		m.rec.Size = *m.req.Size
		if m.rec.Size < token.Unlimited {
			m.bad("size", "must be a number of bytes or -1 (unlimited)")
		}
	}
}

// checkDelivery: a presigned URL cannot enforce an address, nor check an upload as it
// streams.
func (m *minting) checkDelivery() {
	req := m.req
	switch req.Delivery {
	case "", token.DeliveryStream:
	case token.DeliveryRedirect:
		switch {
		case req.Method != token.MethodGet && !m.put():
			m.bad("delivery", "redirect is for GET and PUT tokens")
		case m.bucket != nil && !m.a.redirects[req.Bucket]:
			m.bad("delivery", "bucket %q cannot hand out presigned URLs (a file bucket)", req.Bucket)
		case m.put() && (req.SHA256 != "" || len(req.Metadata) > 0 || req.IfNoneMatch):
			m.bad("delivery", "redirect cannot check sha256, metadata or if_none_match: those uploads stream through the gateway")
		case len(req.IP) > 0:
			m.bad("delivery", "redirect cannot be bound to client addresses (ip): a presigned URL works from anywhere")
		}
	default:
		m.bad("delivery", `must be "stream" or "redirect"`)
	}
	m.rec.Delivery = req.Delivery
}

// checkUploadRules: constraints a PUT's upload must meet.
func (m *minting) checkUploadRules() {
	req := m.req
	for _, f := range []struct {
		name string
		set  bool
	}{{"content_types", len(req.ContentTypes) > 0}, {"sha256", req.SHA256 != ""}, {"metadata", len(req.Metadata) > 0},
		{"if_none_match", req.IfNoneMatch}} {
		if f.set && !m.put() {
			m.bad(f.name, "only for PUT tokens")
		}
	}
	if len(req.ContentTypes) > maxContentTypes {
		m.bad("content_types", "at most %d", maxContentTypes)
	}
	for i, ct := range req.ContentTypes {
		if msg := checkMediaRange(ct); msg != "" {
			m.bad(fmt.Sprintf("content_types[%d]", i), "%s", msg)
		}
	}
	sum := strings.ToLower(req.SHA256)
	if req.SHA256 != "" && !isHex(sum, 64) {
		m.bad("sha256", "must be the 64 hex digits of a SHA-256")
	}
	if msg := checkMetadata(req.Metadata); msg != "" {
		m.bad("metadata", "%s", msg)
	}
	m.rec.ContentTypes, m.rec.SHA256, m.rec.Metadata, m.rec.IfNoneMatch = req.ContentTypes, sum, req.Metadata, req.IfNoneMatch
}

// checkClients: the addresses a token may be used from.
func (m *minting) checkClients() {
	if len(m.req.IP) > maxIPs {
		m.bad("ip", "at most %d addresses or CIDRs", maxIPs)
	}
	for i, v := range m.req.IP {
		p, err := parseCIDR(v)
		if err != nil {
			m.bad(fmt.Sprintf("ip[%d]", i), "not an IP address or CIDR")
			continue
		}
		m.rec.IPs = append(m.rec.IPs, p)
	}
}

func (m *minting) checkDownloadHeaders() {
	switch m.req.Disposition {
	case "", "attachment", "inline":
	default:
		m.bad("disposition", `must be "attachment" or "inline"`)
	}
	if msg := checkHeaderValue(m.req.CacheControl, maxCacheControl); msg != "" {
		m.bad("cache_control", "%s", msg)
	}
	m.rec.Disposition, m.rec.CacheControl = m.req.Disposition, m.req.CacheControl
}

// checkMediaRange vets an allowed upload type: "type/subtype" or "type/*", no parameters.
func checkMediaRange(v string) string {
	t, sub, ok := strings.Cut(v, "/")
	if !ok || !isToken(t) || !(sub == "*" || isToken(sub)) || t == "*" {
		return `must be a media type like "image/png" or "image/*"`
	}
	return ""
}

// checkMetadata vets user metadata: names of a-z 0-9 and "-", printable ASCII values, at
// most 2 KiB in all (S3's limit).
func checkMetadata(md map[string]string) string {
	total := 0
	for name, v := range md {
		total += len(name) + len(v)
		if name == "" || len(name) > 128 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return fmt.Sprintf("name %q: must be 1–128 characters of a-z 0-9 -", truncate(name, 64))
		}
		if msg := checkHeaderValue(v, maxMetadataBytes); msg != "" {
			return fmt.Sprintf("value of %q: %s", name, msg)
		}
	}
	if total > maxMetadataBytes {
		return fmt.Sprintf("more than %d bytes", maxMetadataBytes)
	}
	return ""
}

// checkHeaderValue vets text that goes into a response or request header: printable ASCII
// (and spaces), at most max bytes.
func checkHeaderValue(v string, max int) string {
	if len(v) > max {
		return fmt.Sprintf("longer than %d bytes", max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "must be printable ASCII"
		}
	}
	return ""
}

// isToken reports whether s is an RFC 9110 token (the characters of a media type's parts).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// parseCIDR normalizes an address or CIDR to CIDR form ("10.0.0.1" → "10.0.0.1/32").
func parseCIDR(v string) (string, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 → 10.0.0.0/8
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return "", err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}

// checkText vets a key or filename: valid UTF-8, no control characters, at most max bytes.
// It returns "" when the text is fine.
func checkText(s string, max int) string {
	switch {
	case len(s) > max:
		return fmt.Sprintf("longer than %d bytes", max)
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "contains control characters"
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
