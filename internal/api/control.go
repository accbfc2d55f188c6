package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
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
	}
}

// createToken serves POST /token.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := a.decode(w, r, &req, createFields); err != nil {
		return err
	}
	tok, rec, err := a.validate(r, &req)
	if err != nil {
		return err
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
	}{tok, rec.Method, rec.Filename, rec.ExpireAt, a.objectURL(tok)})
	return nil
}

// decode reads one JSON object from a capped body; unknown fields are errors (a mistyped
// "max_hit" must not silently mint an unlimited token).
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any, fields map[string]bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err == nil {
		if e := checkFields(body, fields); e != nil {
			return e
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil {
			if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
				return badRequest("invalid JSON body: more than one value")
			}
			return nil
		}
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeRequestTooLarge,
			Message: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return badRequest(fmt.Sprintf("%s: must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest(strings.TrimPrefix(err.Error(), "json: ") + " in JSON body")
	case errors.Is(err, io.EOF):
		return badRequest("invalid JSON body: empty")
	}
	return badRequest("invalid JSON body")
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
func (a *API) validate(r *http.Request, req *createRequest) (string, token.Record, error) {
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

	if msg := checkText(req.Key, maxKeyBytes); req.Key == "" {
		bad("key", "required")
	} else if msg != "" {
		bad("key", "%s", msg)
	} else if kc, ok := bucket.(KeyChecker); ok {
		if err := kc.CheckKey(req.Key); err != nil {
			bad("key", "not valid for bucket %q: %v", req.Bucket, err)
		}
	}

	if msg := checkText(req.Filename, maxFilenameBytes); msg != "" {
		bad("filename", "%s", msg)
	}

	switch req.Method {
	case token.MethodGet, token.MethodHead, token.MethodPut, token.MethodDelete:
	case "":
		bad("method", "required (GET, HEAD, PUT or DELETE)")
	default:
		bad("method", "must be GET, HEAD, PUT or DELETE")
	}

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
	if req.Method == token.MethodPut || req.Method == token.MethodDelete {
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
		if err := a.checkCallback(r, req.Callback); err != "" {
			bad("callback", "%s", err)
		}
	}

	if len(problems) > 0 {
		return "", token.Record{}, badRequest(strings.Join(problems, "; "))
	}
	return tok, token.Record{
		Bucket: req.Bucket, Key: req.Key, Filename: req.Filename, Method: req.Method,
		ExpireAt: expireAt, MaxHits: maxHits, Size: size, Callback: req.Callback,
	}, nil
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
func (a *API) checkCallback(r *http.Request, raw string) string {
	if len(raw) > maxCallbackBytes {
		return fmt.Sprintf("longer than %d bytes", maxCallbackBytes)
	}
	if a.callbacks != nil {
		if err := a.callbacks.CheckURL(r.Context(), raw); err != nil {
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
	bucket := a.buckets[rec.Bucket]
	if bucket == nil {
		return fmt.Errorf("%w: bucket alias %q is not configured", proxy.ErrUpstream, rec.Bucket)
	}
	info, err := bucket.Head(r.Context(), rec.Key, proxy.Conditions{})
	switch {
	case err == nil:
		v.ObjectExists, v.ObjectSize, v.ETag = true, info.Size, info.ETag
	case errors.Is(err, proxy.ErrObjectNotFound):
	case r.Context().Err() != nil:
		return proxy.ErrClientGone
	default:
		return fmt.Errorf("%w: %w", proxy.ErrUpstream, err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
