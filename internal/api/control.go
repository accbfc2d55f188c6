package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// Field limits of POST /token.
const (
	maxKeyBytes      = 1024
	maxFilenameBytes = 512
	maxCallbackBytes = 2048
	defaultLifetime  = 1800 * time.Second
)

// authorize checks the control token: missing or malformed → 401, unknown → 403. The
// comparison runs over every configured token in constant time.
func (a *API) authorize(r *http.Request) *Error {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" || strings.ContainsAny(cred, " \t") {
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "missing or malformed Authorization header, want: Bearer <control-token>"}
	}
	sum := sha256.Sum256([]byte(cred))
	match := 0
	for i := range a.control {
		match |= subtle.ConstantTimeCompare(sum[:], a.control[i][:])
	}
	if match != 1 {
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "control token rejected"}
	}
	return nil
}

// createRequest is the body of POST /token. Pointers tell "absent" from zero.
type createRequest struct {
	Token     string `json:"token"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Filename  string `json:"filename"`
	Method    string `json:"method"`
	ExpireAt  *int64 `json:"expire_at"`
	ExpiresIn *int64 `json:"expires_in"`
	MaxHits   *int64 `json:"max_hits"`
	Size      *int64 `json:"size"`
	Callback  string `json:"callback"`

	// Beyond the seed: each is optional and leaves the seed's behaviour alone when absent.
	Prefix       string            `json:"prefix"`
	Delivery     string            `json:"delivery"`
	ContentTypes []string          `json:"content_types"`
	SHA256       string            `json:"sha256"`
	Metadata     map[string]string `json:"metadata"`
	IfNoneMatch  bool              `json:"if_none_match"`
	IP           []string          `json:"ip"`
	Disposition  string            `json:"disposition"`
	CacheControl string            `json:"cache_control"`
}

// tokenView is a token record on the wire (GET /token/{token}).
type tokenView struct {
	Token    string `json:"token"`
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	Filename string `json:"filename"`
	Method   string `json:"method"`
	ExpireAt int64  `json:"expire_at"`
	MaxHits  int64  `json:"max_hits"`
	UsedHits int64  `json:"used_hits"`
	Size     int64  `json:"size"`
	Callback string `json:"callback"`
	URL      string `json:"url"`

	Prefix       string            `json:"prefix,omitempty"`
	Delivery     string            `json:"delivery,omitempty"`
	ContentTypes []string          `json:"content_types,omitempty"`
	SHA256       string            `json:"sha256,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	IfNoneMatch  bool              `json:"if_none_match,omitempty"`
	IP           []string          `json:"ip,omitempty"`
	Disposition  string            `json:"disposition,omitempty"`
	CacheControl string            `json:"cache_control,omitempty"`
}

// statusView is GET /token/{token}/status.
type statusView struct {
	tokenView
	StatusURL    string `json:"status_url"`
	Uploaded     bool   `json:"uploaded"`
	ObjectExists bool   `json:"object_exists"`
	ObjectSize   int64  `json:"object_size"`
	ETag         string `json:"etag"`
}

func (a *API) objectURL(tok string) string { return a.host + "/object/" + tok }

func (a *API) view(tok string, rec token.Record) tokenView {
	return tokenView{
		Token: tok, Bucket: rec.Bucket, Key: rec.Key, Filename: rec.Filename, Method: rec.Method,
		ExpireAt: rec.ExpireAt, MaxHits: rec.MaxHits, UsedHits: rec.UsedHits, Size: rec.Size,
		Callback: rec.Callback, URL: a.objectURL(tok),
		Prefix: rec.Prefix, Delivery: rec.Delivery, ContentTypes: rec.ContentTypes, SHA256: rec.SHA256,
		Metadata: rec.Metadata, IfNoneMatch: rec.IfNoneMatch, IP: rec.IPs, Disposition: rec.Disposition,
		CacheControl: rec.CacheControl,
	}
}

// createToken serves POST /token.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := a.decode(w, r, &req, createFields); err != nil {
		return err
	}
	tok, rec, problems := a.validate(r.Context(), &req)
	if len(problems) > 0 {
		return badRequest(strings.Join(problems, "; "))
	}
	if err := a.tokens.Create(r.Context(), tok, rec); err != nil {
		return err
	}
	w.Header().Set("Location", a.host+"/token/"+tok)
	writeJSON(w, http.StatusCreated, struct {
		Token    string `json:"token"`
		Method   string `json:"method"`
		Filename string `json:"filename"`
		ExpireAt int64  `json:"expire_at"`
		URL      string `json:"url"`
		TusURL   string `json:"tus_url,omitempty"`
	}{tok, rec.Method, rec.Filename, rec.ExpireAt, a.objectURL(tok), a.tusURL(tok, rec)})
	return nil
}

// decode reads one JSON object from a capped body; unknown fields are errors (a mistyped
// "max_hit" must not silently mint an unlimited token).
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any, fields map[string]bool) error {
	body, e := a.readBody(w, r)
	if e != nil {
		return e
	}
	if e := checkFields(body, fields); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("invalid JSON body: empty")
		}
		return badRequest(decodeProblem(err, "invalid JSON body"))
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return badRequest("invalid JSON body: more than one value")
	}
	return nil
}

// readBody reads a control request's body, capped at max_control_body (413 past it).
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeRequestTooLarge,
			Message: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	case err != nil:
		return nil, badRequest("could not read the request body")
	}
	return body, nil
}

// decodeProblem words a JSON decoding error for the client, naming the field when it can,
// else saying otherwise.
func decodeProblem(err error, otherwise string) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("%s: must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + " in JSON body"
	}
	return otherwise
}

// createFields are the members POST /token accepts.
var createFields = jsonFields(&createRequest{})

// checkFields looks at a JSON object's members before encoding/json does, to refuse what
// it would quietly accept: a key that differs from a field's name only in case, or that is
// given twice (json matches keys case-insensitively and lets the last one win, so
// {"max_hits":1,"MAX_HITS":-1} would mint an unlimited token), and a string value that is
// not valid UTF-8 or holds a lone UTF-16 surrogate escape (json would store U+FFFD: a key or
// a file name that the caller never sent). It only walks the top-level members, without
// allocating; anything malformed is left to the decoder's own error.
func checkFields(body []byte, known map[string]bool) *Error {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil
	}
	var seen []string
	for i = skipSpace(body, i+1); i < len(body) && body[i] != '}'; {
		end, ok := scanString(body, i)
		if !ok {
			return nil
		}
		name := memberName(body[i:end])
		switch {
		case !known[name]:
			return badRequest(fmt.Sprintf("unknown field %q in JSON body", truncate(name, 64)))
		case slices.Contains(seen, name):
			return badRequest(name + ": given more than once")
		}
		seen = append(seen, name)
		if i = skipSpace(body, end); i >= len(body) || body[i] != ':' {
			return nil
		}
		i = skipSpace(body, i+1)
		if end, ok = scanValue(body, i); !ok {
			return nil
		}
		if v := body[i:end]; v[0] == '"' && (!utf8.Valid(v) || loneSurrogate(v)) {
			return badRequest(name + ": not valid UTF-8")
		}
		if i = skipSpace(body, end); i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the end of the JSON string literal starting at b[i].
func scanString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// scanValue returns the end of the JSON value starting at b[i].
func scanValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return scanString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := scanString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	return j, j > i
}

// memberName decodes a member name literal ("max_hits", or one written with escapes).
func memberName(lit []byte) string {
	if !bytes.ContainsRune(lit, '\\') {
		return string(lit[1 : len(lit)-1])
	}
	var s string
	_ = json.Unmarshal(lit, &s)
	return s
}

// jsonFields returns the JSON member names of the struct v points to.
func jsonFields(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	out := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// loneSurrogate reports whether a JSON string literal holds a \uD800–\uDFFF escape that is
// not half of a high-low pair.
func loneSurrogate(lit []byte) bool {
	hex4 := func(i int) (rune, bool) { // the 4 hex digits at lit[i:i+4]
		if i+4 > len(lit) {
			return 0, false
		}
		var r rune
		for _, c := range lit[i : i+4] {
			switch {
			case '0' <= c && c <= '9':
				r = r<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case 'A' <= c && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	for i := 0; i+1 < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if lit[i] != 'u' {
			continue
		}
		r, ok := hex4(i + 1)
		if !ok {
			continue
		}
		i += 4
		switch {
		case 0xDC00 <= r && r <= 0xDFFF:
			return true // a low half with no high half before it
		case 0xD800 <= r && r <= 0xDBFF:
			if i+6 < len(lit) && lit[i+1] == '\\' && lit[i+2] == 'u' {
				if lo, ok := hex4(i + 3); ok && 0xDC00 <= lo && lo <= 0xDFFF {
					i += 6
					continue
				}
			}
			return true
		}
	}
	return false
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "integer"
	}
	return kind
}

// validate checks every field of a create request and builds the record. All problems are
// reported at once, each naming its field.
func (a *API) validate(ctx context.Context, req *createRequest) (string, token.Record, []string) {
	var problems []string
	bad := func(field, format string, args ...any) {
		problems = append(problems, field+": "+fmt.Sprintf(format, args...))
	}
	now := a.now()

	tok := req.Token
	if tok == "" {
		tok = token.Generate()
	} else if !token.WellFormed(tok) {
		bad("token", "must be %d–%d characters of A-Z a-z 0-9 _ -", token.MinLen, token.MaxLen)
	}

	bucket, known := a.buckets[req.Bucket]
	switch {
	case req.Bucket == "":
		bad("bucket", "required")
	case !known:
		bad("bucket", "unknown bucket alias %q", truncate(req.Bucket, 64))
	}

	// One object (key) or every object under a prefix.
	field, path := "key", req.Key
	switch {
	case req.Key != "" && req.Prefix != "":
		bad("prefix", "give key or prefix, not both")
	case req.Prefix != "":
		field, path = "prefix", req.Prefix
	}
	if msg := checkText(path, maxKeyBytes); path == "" {
		bad("key", "required (or prefix)")
	} else if msg != "" {
		bad(field, "%s", msg)
	} else if strings.HasPrefix(path, upload.ScratchPrefix) || field == "prefix" && strings.HasPrefix(upload.ScratchPrefix, path) {
		bad(field, "keys under %q are reserved for uploads in progress", upload.ScratchPrefix)
	} else if kc, ok := bucket.(KeyChecker); ok {
		// A file bucket's keys are paths: a prefix must be a path too, but may end in "/".
		if err := kc.CheckKey(strings.TrimSuffix(path, "/")); err != nil {
			bad(field, "not valid for bucket %q: %v", req.Bucket, err)
		}
	}

	if msg := checkText(req.Filename, maxFilenameBytes); msg != "" {
		bad("filename", "%s", msg)
	}

	methods := "GET, HEAD, PUT or DELETE"
	if req.Prefix != "" {
		methods = "GET, HEAD or LIST (a prefix token)"
	}
	switch req.Method {
	case token.MethodGet, token.MethodHead:
	case token.MethodPut, token.MethodDelete:
		if req.Prefix != "" {
			bad("method", "must be %s", methods)
		}
	case token.MethodList:
		if req.Prefix == "" {
			bad("method", "LIST needs a prefix instead of a key")
		}
	case "":
		bad("method", "required (%s)", methods)
	default:
		bad("method", "must be %s", methods)
	}
	put := req.Method == token.MethodPut

	expireAt := now.Add(min(defaultLifetime, a.maxTTL)).Unix()
	latest := now.Add(a.maxTTL).Unix()
	switch {
	case req.ExpireAt != nil && req.ExpiresIn != nil:
		bad("expires_in", "give expire_at or expires_in, not both")
	case req.ExpireAt != nil:
		expireAt = *req.ExpireAt
		if expireAt <= now.Unix() {
			bad("expire_at", "is in the past")
		} else if expireAt > latest {
			bad("expire_at", "is more than %s from now (token.max_ttl)", a.maxTTL)
		}
	case req.ExpiresIn != nil:
		in := *req.ExpiresIn
		if in <= 0 {
			bad("expires_in", "must be a positive number of seconds")
		} else if in > int64(a.maxTTL/time.Second) {
			bad("expires_in", "is more than %s (token.max_ttl)", a.maxTTL)
		} else {
			expireAt = now.Unix() + in
		}
	}

	maxHits := int64(token.Unlimited)
	if put || req.Method == token.MethodDelete {
		maxHits = 1 // one upload, one deletion
	}
	if req.MaxHits != nil {
		maxHits = *req.MaxHits
		if maxHits == 0 || maxHits < token.Unlimited {
			bad("max_hits", "must be a positive number or -1 (unlimited)")
		}
	}
	size := int64(token.Unlimited)
	if req.Size != nil {
		size = *req.Size
		if size < token.Unlimited {
			bad("size", "must be a number of bytes or -1 (unlimited)")
		}
	}

	if req.Callback != "" {
		if err := a.checkCallback(ctx, req.Callback); err != "" {
			bad("callback", "%s", err)
		}
	}

	switch req.Delivery {
	case "", token.DeliveryStream:
	case token.DeliveryRedirect:
		switch {
		case req.Method != token.MethodGet && !put:
			bad("delivery", "redirect is for GET and PUT tokens")
		case known && !a.redirects[req.Bucket]:
			bad("delivery", "bucket %q cannot hand out presigned URLs (a file bucket)", req.Bucket)
		case put && (req.SHA256 != "" || len(req.Metadata) > 0 || req.IfNoneMatch):
			bad("delivery", "redirect cannot check sha256, metadata or if_none_match: those uploads stream through the gateway")
		}
	default:
		bad("delivery", `must be "stream" or "redirect"`)
	}

	onlyPut := func(name string, set bool) {
		if set && !put {
			bad(name, "only for PUT tokens")
		}
	}
	onlyPut("content_types", len(req.ContentTypes) > 0)
	onlyPut("sha256", req.SHA256 != "")
	onlyPut("metadata", len(req.Metadata) > 0)
	onlyPut("if_none_match", req.IfNoneMatch)
	if len(req.ContentTypes) > maxContentTypes {
		bad("content_types", "at most %d", maxContentTypes)
	}
	for i, ct := range req.ContentTypes {
		if msg := checkMediaRange(ct); msg != "" {
			bad(fmt.Sprintf("content_types[%d]", i), "%s", msg)
		}
	}
	sum := strings.ToLower(req.SHA256)
	if req.SHA256 != "" && !isHex(sum, 64) {
		bad("sha256", "must be the 64 hex digits of a SHA-256")
	}
	if msg := checkMetadata(req.Metadata); msg != "" {
		bad("metadata", "%s", msg)
	}

	cidrs := make([]string, 0, len(req.IP))
	if len(req.IP) > maxIPs {
		bad("ip", "at most %d addresses or CIDRs", maxIPs)
	}
	for i, v := range req.IP {
		p, err := parseCIDR(v)
		if err != nil {
			bad(fmt.Sprintf("ip[%d]", i), "not an IP address or CIDR")
			continue
		}
		cidrs = append(cidrs, p)
	}
	switch req.Disposition {
	case "", "attachment", "inline":
	default:
		bad("disposition", `must be "attachment" or "inline"`)
	}
	if msg := checkHeaderValue(req.CacheControl, maxCacheControl); msg != "" {
		bad("cache_control", "%s", msg)
	}

	if len(problems) > 0 {
		return "", token.Record{}, problems
	}
	rec := token.Record{
		Bucket: req.Bucket, Key: req.Key, Filename: req.Filename, Method: req.Method,
		ExpireAt: expireAt, MaxHits: maxHits, Size: size, Callback: req.Callback,
		Prefix: req.Prefix, ContentTypes: req.ContentTypes, SHA256: sum, Metadata: req.Metadata,
		IfNoneMatch: req.IfNoneMatch, Disposition: req.Disposition, CacheControl: req.CacheControl,
	}
	rec.Delivery = req.Delivery
	if len(cidrs) > 0 {
		rec.IPs = cidrs
	}
	if req.Disposition == "attachment" {
		rec.Disposition = "" // the default
	}
	return tok, rec, nil
}

// Limits of the fields beyond the seed.
const (
	maxContentTypes  = 32
	maxIPs           = 32
	maxCacheControl  = 256
	maxMetadataBytes = 2048 // S3's limit on user metadata
)

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

// checkCallback vets a callback URL; it returns "" when the URL is acceptable.
func (a *API) checkCallback(ctx context.Context, raw string) string {
	if len(raw) > maxCallbackBytes {
		return fmt.Sprintf("longer than %d bytes", maxCallbackBytes)
	}
	if a.callbacks != nil {
		if err := a.callbacks.CheckURL(ctx, raw); err != nil {
			return strings.TrimPrefix(err.Error(), "callback: ")
		}
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// pathToken returns the {token} path value, or ErrNotFound when it cannot be a token
// (malformed tokens are indistinguishable from unknown ones).
func pathToken(r *http.Request) (string, error) {
	tok := r.PathValue("token")
	if !token.WellFormed(tok) {
		return "", token.ErrNotFound
	}
	return tok, nil
}

// getToken serves GET /token/{token}.
func (a *API) getToken(w http.ResponseWriter, r *http.Request) error {
	tok, err := pathToken(r)
	if err != nil {
		return err
	}
	rec, err := a.tokens.Get(r.Context(), tok)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.view(tok, rec))
	return nil
}

// deleteToken serves DELETE /token/{token}.
func (a *API) deleteToken(w http.ResponseWriter, r *http.Request) error {
	tok, err := pathToken(r)
	if err != nil {
		return err
	}
	if err := a.tokens.Delete(r.Context(), tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokenStatus serves GET /token/{token}/status: the record plus a live HEAD of the object.
func (a *API) tokenStatus(w http.ResponseWriter, r *http.Request) error {
	tok, err := pathToken(r)
	if err != nil {
		return err
	}
	rec, err := a.tokens.Get(r.Context(), tok)
	if err != nil {
		return err
	}
	v := statusView{tokenView: a.view(tok, rec), StatusURL: a.host + "/token/" + tok + "/status", Uploaded: rec.Uploaded}
	if rec.Prefix != "" { // many objects, or none: nothing single to look at
		writeJSON(w, http.StatusOK, v)
		return nil
	}
	bucket := a.buckets[rec.Bucket]
	if bucket == nil {
		return fmt.Errorf("%w: bucket alias %q is not configured", proxy.ErrUpstream, rec.Bucket)
	}
	info, err := bucket.Head(r.Context(), rec.Key, objstore.Conditions{})
	switch {
	case err == nil:
		v.ObjectExists, v.ObjectSize, v.ETag = true, info.Size, info.ETag
	case errors.Is(err, objstore.ErrObjectNotFound):
	case r.Context().Err() != nil:
		return proxy.ErrClientGone
	default:
		return fmt.Errorf("%w: %w", proxy.ErrUpstream, err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
