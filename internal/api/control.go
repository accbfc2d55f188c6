package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/assetgateway/assetgateway/internal/edge"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/strictjson"
	"github.com/assetgateway/assetgateway/internal/token"
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
	S3           bool              `json:"s3"`
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
	UppyEndpoint string            `json:"uppy_endpoint,omitempty"`
	TusURL       string            `json:"tus_url,omitempty"`
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

// uppyEndpoint is the companionEndpoint of Uppy's @uppy/aws-s3 for a PUT token whose alias
// takes direct uploads; "" for any other token, and for one with a sha256 (refused there).
func (a *API) uppyEndpoint(tok string, rec *token.Record) string {
	if a.uppy == nil || rec.Method != token.MethodPut || rec.SHA256 != "" || !a.uppy.Direct(rec.Bucket) {
		return ""
	}
	return a.host + "/uppy/" + tok
}

func (a *API) view(tok string, rec token.Record) tokenView {
	return tokenView{
		Token: tok, Bucket: rec.Bucket, Key: rec.Key, Filename: rec.Filename, Method: rec.Method,
		ExpireAt: rec.ExpireAt, MaxHits: rec.MaxHits, UsedHits: rec.UsedHits, Size: rec.Size,
		Callback: rec.Callback, URL: a.objectURL(tok),
		Prefix: rec.Prefix, Delivery: rec.Delivery, ContentTypes: rec.ContentTypes, SHA256: rec.SHA256,
		Metadata: rec.Metadata, IfNoneMatch: rec.IfNoneMatch, IP: rec.IPs, Disposition: rec.Disposition,
		CacheControl: rec.CacheControl, UppyEndpoint: a.uppyEndpoint(tok, &rec), TusURL: a.tusURL(tok, rec),
	}
}

// createToken serves POST /token.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	tok, rec, problems := a.validate(&req, a.checkCallbacks(r.Context(), []string{req.Callback})[0])
	if len(problems) > 0 {
		return badRequest(strings.Join(problems, "; "))
	}
	if err := a.tokens.Create(r.Context(), tok, rec); err != nil {
		return err
	}
	w.Header().Set("Location", a.host+"/token/"+tok)
	writeJSON(w, http.StatusCreated, struct {
		Token    string  `json:"token"`
		Method   string  `json:"method"`
		Filename string  `json:"filename"`
		ExpireAt int64   `json:"expire_at"`
		URL      string  `json:"url"`
		Uppy     string  `json:"uppy_endpoint,omitempty"`
		TusURL   string  `json:"tus_url,omitempty"`
		S3       *s3View `json:"s3,omitempty"`
	}{tok, rec.Method, rec.Filename, rec.ExpireAt, a.objectURL(tok), a.uppyEndpoint(tok, &rec), a.tusURL(tok, rec), a.s3Of(tok, rec)})
	return nil
}

// decode reads one JSON value from a capped body, strictly (see package strictjson: a
// mistyped "max_hit" or a second "max_hits" must not silently mint another token).
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, e := a.readBody(w, r)
	if e != nil {
		return e
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("invalid JSON body: empty")
	}
	if err := strictjson.Unmarshal(body, v); err != nil {
		return badRequest(jsonProblem(err))
	}
	return nil
}

// jsonProblem words a strict decoding failure: a member's problem names the member; the
// rest is about the body.
func jsonProblem(err error) string {
	p := strictjson.Problem(err)
	switch {
	case strings.HasPrefix(p, "unknown field"):
		return p + " in JSON body"
	case strings.HasPrefix(p, "invalid JSON"), strings.HasPrefix(p, "more than one value"), strings.HasPrefix(p, "not valid UTF-8"),
		strings.HasPrefix(p, "not a JSON"):
		if p == "invalid JSON" {
			return "invalid JSON body"
		}
		return "invalid JSON body: " + p
	}
	return p
}

// checkCallbacks vets callback URLs at mint time, one verdict per URL ("" passes), looking
// their hosts up all at once.
func (a *API) checkCallbacks(ctx context.Context, urls []string) []error {
	errs := make([]error, len(urls))
	var at []int
	var raws []string
	for i, u := range urls {
		switch {
		case u == "":
		case len(u) > maxCallbackBytes:
			errs[i] = fmt.Errorf("longer than %d bytes", maxCallbackBytes)
		default:
			at, raws = append(at, i), append(raws, u)
		}
	}
	if len(raws) == 0 {
		return errs
	}
	if a.callbacks == nil {
		for j, raw := range raws {
			if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs[at[j]] = errors.New("must be an absolute http or https URL")
			}
		}
		return errs
	}
	for j, err := range a.callbacks.CheckURLs(ctx, raws) {
		errs[at[j]] = err
	}
	return errs
}

// readBody reads a control request's body, capped at max_control_body (413 past it).
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeRequestTooLarge,
			Message: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	case errors.Is(err, edge.ErrBodyTimeout):
		return nil, classify(err)
	case err != nil:
		return nil, badRequest("could not read the request body")
	}
	return body, nil
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
