// Package client is the Go client of AssetGateway's HTTP API, for backend services that mint
// tokens and for programs that move objects through /object URLs.
//
// A Client talks to one gateway. The control methods (CreateToken, CreateTokens, GetToken,
// Status, DeleteToken, FailedCallbacks, RetryCallback) send the control token as
// "Authorization: Bearer <token>"; the object methods (Upload, Download, Open, Head, List,
// Delete) send no credential at all: the token in the object URL is the credential.
//
// Errors. Every answer of the gateway that is not the expected success is returned as an
// *Error carrying the HTTP status, the contract's error code, its message and the request id.
// Compare with the sentinels, which match on the code:
//
//	if errors.Is(err, client.ErrHitsExceeded) { … }
//
// Transport failures (DNS, connection refused, a cancelled context) are returned wrapped, so
// errors.Is(err, context.DeadlineExceeded) works too.
//
// Secrets. The control token never appears in an error, a log line or a URL. Token values in
// URLs are shortened to their first four characters in error messages ("/object/AbCd…"), since
// an object URL is itself a credential, and a presigned URL never appears in one at all.
//
// Redirects. A control call never follows a redirect: the control token only ever goes to
// the gateway it was meant for. A token minted with Delivery "redirect" makes the gateway
// answer a download or an upload with 307 and a short-lived presigned URL of the bucket;
// Download, Open and Upload follow that one redirect (and no further one) with a fresh request
// that carries only what the object store needs — Range for a download, the same body,
// Content-Length and Content-Type for an upload — and never an Authorization header. See
// Upload for what a redirected upload asks of its body.
//
// Timeouts. The default HTTP client bounds dialing (10s), TLS handshakes (10s) and the wait for
// response headers (5 min, measured after the request body is sent) but sets no overall
// deadline, because uploads and downloads can legitimately take hours: give every call a
// context with the deadline you want. A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultUserAgent is the User-Agent sent unless WithUserAgent sets another.
const DefaultUserAgent = "assetgateway-client-go/1"

// maxControlResponse caps the JSON answers of the control API read into memory (1000 failed
// callbacks fit many times over).
const maxControlResponse = 32 << 20

// Client is an AssetGateway client. Build it with New.
type Client struct {
	base    *url.URL // nil when baseErr is set
	baseErr error
	control string
	hc      *http.Client
	ua      string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests through hc (for a custom Transport, TLS
// configuration or instrumentation). The Client works on a shallow copy of hc whose
// CheckRedirect refuses every redirect; hc itself is not modified. Prefer a client without a
// Timeout: it would cut long uploads and downloads.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc == nil {
			return
		}
		cp := *hc
		cp.CheckRedirect = noRedirects
		c.hc = &cp
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.ua = ua }
}

// New returns a client of the gateway at baseURL (e.g. "https://gw.example.com"; a trailing
// slash is ignored). controlToken is one of the gateway's control.tokens; it may be "" for a
// client that only uses object URLs (control calls then fail with ErrUnauthorized). An invalid
// baseURL is reported by the first call that needs it.
func New(baseURL, controlToken string, opts ...Option) *Client {
	c := &Client{control: controlToken, ua: DefaultUserAgent}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("assetgateway: invalid gateway URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.baseErr = errors.New("assetgateway: invalid gateway URL: want http(s)://host[:port]")
	default:
		u.RawQuery, u.Fragment, u.User = "", "", nil
		c.base = u
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	return c
}

// defaultHTTPClient is the client New uses: bounded dialing, handshakes and header waits, no
// overall timeout (bodies may stream for hours), no redirects.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			// Counted from the end of the request body: an S3 multipart upload is completed
			// after the last byte arrives, which can take a while for large objects.
			ResponseHeaderTimeout: 5 * time.Minute,
		},
		CheckRedirect: noRedirects,
	}
}

// noRedirects returns a redirect response to the caller instead of following it, so the
// Authorization header never travels anywhere but the gateway.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Methods a token can be minted for.
const (
	MethodGet    = http.MethodGet
	MethodHead   = http.MethodHead
	MethodPut    = http.MethodPut
	MethodDelete = http.MethodDelete
	// MethodList is a prefix token whose GET is a page of the keys under its prefix (List).
	MethodList = "LIST"
)

// Deliveries of CreateRequest.Delivery.
const (
	// DeliveryStream: the gateway moves the bytes.
	DeliveryStream = "stream"
	// DeliveryRedirect: the gateway answers 307 to a short-lived presigned URL of the bucket
	// (GET and PUT tokens of an S3 bucket alias).
	DeliveryRedirect = "redirect"
)

// Dispositions of CreateRequest.Disposition.
const (
	DispositionAttachment = "attachment"
	DispositionInline     = "inline"
)

// Unlimited is the MaxHits and Size value meaning "no limit".
const Unlimited = -1

// CreateRequest is the body of POST /token. Nil pointers, empty strings, empty lists and
// false are left out, so the gateway's defaults apply. Go 1.26's new(expr) makes the
// pointers easy:
//
//	client.CreateRequest{Bucket: "b", Key: "k", Method: client.MethodGet, MaxHits: new(int64(3))}
//
// The gateway refuses a field that does not fit the token (an upload constraint on a GET
// token, a redirect on a file bucket) with ErrBadRequest naming the field.
type CreateRequest struct {
	// Token is a custom token (16–128 characters of A-Z a-z 0-9 _ -); "" lets the gateway
	// generate one (168 random bits).
	Token string `json:"token,omitempty"`
	// Bucket is a configured bucket alias. Required.
	Bucket string `json:"bucket"`
	// Key is the object key (1–1024 bytes of UTF-8, no control characters). Required, unless
	// Prefix is given instead.
	Key string `json:"key,omitempty"`
	// Filename is offered to browsers through Content-Disposition; "" for none.
	Filename string `json:"filename,omitempty"`
	// Method is MethodGet, MethodHead, MethodPut, MethodDelete or MethodList. Required. A
	// prefix token is GET, HEAD or LIST; LIST needs a prefix.
	Method string `json:"method"`
	// ExpireAt is the Unix time (seconds) the token stops working. Nil (and ExpiresIn nil):
	// 30 minutes from now, or the gateway's token.max_ttl if shorter.
	ExpireAt *int64 `json:"expire_at,omitempty"`
	// ExpiresIn is the lifetime in seconds, instead of ExpireAt (not both).
	ExpiresIn *int64 `json:"expires_in,omitempty"`
	// MaxHits is the number of successful GETs, PUTs, DELETEs or listing pages allowed (a
	// redirect handed out is one), or Unlimited. Nil: 1 for PUT and DELETE tokens, Unlimited
	// for the others.
	MaxHits *int64 `json:"max_hits,omitempty"`
	// Size is the upload limit in bytes, or Unlimited. Nil: Unlimited.
	Size *int64 `json:"size,omitempty"`
	// Callback is the http(s) URL that receives asset.access webhooks; "" for none.
	Callback string `json:"callback,omitempty"`

	// Prefix, instead of Key, makes a token for every object whose key starts with it: a GET
	// or HEAD token serves them at <url>/<rest of the key> (see PrefixURL), a LIST token
	// lists them (List). "" for a one-object token.
	Prefix string `json:"prefix,omitempty"`
	// Delivery is DeliveryStream or DeliveryRedirect (GET and PUT tokens of an S3 alias);
	// "" leaves it to the bucket alias's configuration (stream unless it says otherwise).
	Delivery string `json:"delivery,omitempty"`
	// ContentTypes, for a PUT token, are the media types an upload may declare ("image/png",
	// "image/*"); another is refused with ErrUnsupportedMediaType. Empty: any.
	ContentTypes []string `json:"content_types,omitempty"`
	// SHA256, for a PUT token, is the hex SHA-256 the upload must have; an upload that does
	// not match is refused with ErrChecksumMismatch and nothing is stored. "" for none.
	SHA256 string `json:"sha256,omitempty"`
	// Metadata, for a PUT token, is user metadata stored with the object (names of a-z 0-9 -,
	// printable ASCII values, at most 2 KiB in all).
	Metadata map[string]string `json:"metadata,omitempty"`
	// IfNoneMatch, for a PUT token, refuses to overwrite an existing object
	// (ErrPreconditionFailed).
	IfNoneMatch bool `json:"if_none_match,omitempty"`
	// IP are the addresses or CIDRs ("10.0.0.7", "10.0.0.0/8", "2001:db8::/32") the token
	// works from; other clients get ErrForbidden. Empty: anywhere.
	IP []string `json:"ip,omitempty"`
	// Disposition is DispositionAttachment (the default) or DispositionInline: how
	// Content-Disposition offers a download.
	Disposition string `json:"disposition,omitempty"`
	// CacheControl replaces the downloads' "Cache-Control: private, no-store"; "" keeps it.
	CacheControl string `json:"cache_control,omitempty"`
	// S3 asks for S3 credentials of this token (Created.S3), for S3 clients of the gateway's
	// S3 listener; the gateway refuses it with ErrBadRequest while the listener is off.
	S3 bool `json:"s3,omitempty"`
}

// Created is the answer to POST /token.
type Created struct {
	Token    string `json:"token"`
	Method   string `json:"method"`
	Filename string `json:"filename"`
	// ExpireAt is the Unix time (seconds) the token stops working.
	ExpireAt int64 `json:"expire_at"`
	// URL is the object URL to hand to whoever uploads or downloads.
	URL string `json:"url"`
	Uploads
	// S3 holds the token's S3 credentials when CreateRequest.S3 asked for them.
	S3 *S3Credentials `json:"s3,omitempty"`
}

// Uploads are the other ways a PUT token can upload, each "" when the gateway does not
// offer it for the token.
type Uploads struct {
	// TusURL is the tus 1.0 creation URL (resumable uploads, e.g. with tus-js-client).
	TusURL string `json:"tus_url,omitempty"`
	// UppyEndpoint is the companionUrl of Uppy's @uppy/aws-s3 plugin: direct multipart
	// uploads to the bucket (S3 aliases whose uploads may go direct; not with SHA256).
	UppyEndpoint string `json:"uppy_endpoint,omitempty"`
}

// S3Credentials let an S3 client (aws CLI, boto3, the AWS SDKs, mc) use the token through
// the gateway's S3 listener: path-style requests to Endpoint, signed for Region with the
// key pair, on Bucket and Key (or under Prefix) only.
type S3Credentials struct {
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	Bucket          string `json:"bucket"`
	Key             string `json:"key,omitempty"`
	Prefix          string `json:"prefix,omitempty"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// Token is a token's record (GET /token/{token}).
type Token struct {
	Token    string `json:"token"`
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	Filename string `json:"filename"`
	Method   string `json:"method"`
	// ExpireAt is the Unix time (seconds) the token stops working.
	ExpireAt int64 `json:"expire_at"`
	// MaxHits is the number of GETs or PUTs allowed, or Unlimited.
	MaxHits int64 `json:"max_hits"`
	// UsedHits counts the hits consumed so far, including accesses still in progress.
	UsedHits int64 `json:"used_hits"`
	// Size is the upload limit in bytes, or Unlimited.
	Size     int64  `json:"size"`
	Callback string `json:"callback"`
	URL      string `json:"url"`

	// The optional fields of CreateRequest, as the gateway keeps them: zero when the token
	// does not have them. IP holds CIDRs ("10.0.0.7/32"); SHA256 is in lower case;
	// Disposition is "" for the default (attachment) or DispositionInline.
	Prefix       string            `json:"prefix,omitempty"`
	Delivery     string            `json:"delivery,omitempty"`
	ContentTypes []string          `json:"content_types,omitempty"`
	SHA256       string            `json:"sha256,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	IfNoneMatch  bool              `json:"if_none_match,omitempty"`
	IP           []string          `json:"ip,omitempty"`
	Disposition  string            `json:"disposition,omitempty"`
	CacheControl string            `json:"cache_control,omitempty"`
	Uploads
}

// Status is a token's record plus a live look at its object (GET /token/{token}/status).
type Status struct {
	Token
	StatusURL string `json:"status_url"`
	// Uploaded is true once a PUT through this token completed.
	Uploaded bool `json:"uploaded"`
	// ObjectExists, ObjectSize and ETag come from a HEAD of the object made for this call;
	// ObjectSize is 0 and ETag "" when the object does not exist.
	ObjectExists bool   `json:"object_exists"`
	ObjectSize   int64  `json:"object_size"`
	ETag         string `json:"etag"`
}

// Event is the body of an asset.access webhook.
type Event struct {
	Event string `json:"event"`
	// Method is the request's: GET, HEAD, PUT, DELETE, or LIST for a page of a listing.
	Method string `json:"method"`
	// Status is what the client got: 200, 204 (DELETE), 206, or 307 (a redirect to a
	// presigned URL was handed out).
	Status int    `json:"status"`
	Bucket string `json:"bucket"`
	// Key is the object's key (the prefix, for a listing).
	Key string `json:"key"`
	// Size is the object's size in bytes (a redirected PUT: the declared length; 0 for a
	// redirected GET, a DELETE and a listing).
	Size int64  `json:"size"`
	ETag string `json:"etag"`
	// Range is the request's Range header as sent, "" when none.
	Range     string `json:"range"`
	ClientIP  string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
	Referer   string `json:"referer"`
	RequestID string `json:"request_id"`
	// Timestamp is the Unix time (seconds) of the access.
	Timestamp int64 `json:"timestamp"`
}

// FailedCallback is a webhook that was never delivered (a dead letter).
type FailedCallback struct {
	// ID is the webhook-id, stable across retries.
	ID     string `json:"id"`
	Target string `json:"target"`
	Event  Event  `json:"event"`
	// Attempts counts every delivery attempt made.
	Attempts int `json:"attempts"`
	// LastStatus is the HTTP status of the last attempt; 0 when it got no response.
	LastStatus int    `json:"last_status"`
	LastError  string `json:"last_error"`
	// FailedAt is the Unix time (seconds) the event was given up.
	FailedAt int64 `json:"failed_at"`
}

// RetryCallback queues a failed webhook again, with the same webhook-id and a fresh retry
// schedule (POST /callbacks/failed/{id}/retry). Errors: ErrNotFound (no failed callback with
// this id), ErrUnauthorized, ErrForbidden.
func (c *Client) RetryCallback(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("assetgateway: empty callback id")
	}
	return c.controlCall(ctx, http.MethodPost, "/callbacks/failed/"+url.PathEscape(id)+"/retry", nil, http.StatusAccepted, nil)
}

// Health checks the gateway's liveness (GET /healthz): nil when it answers 200.
func (c *Client) Health(ctx context.Context) error {
	u, err := c.endpoint("/healthz")
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	return nil
}

// checkToken refuses an empty token before a request is made ("/token/" is another route).
func checkToken(token string) error {
	if token == "" {
		return errors.New("assetgateway: empty token")
	}
	return nil
}

// endpoint joins the gateway's base URL and an escaped path (with an optional query).
func (c *Client) endpoint(pathAndQuery string) (*url.URL, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	ref, err := url.Parse(pathAndQuery)
	if err != nil {
		return nil, fmt.Errorf("assetgateway: %w", err)
	}
	u := *c.base
	u.Path = c.base.Path + ref.Path
	u.RawPath = ""
	if ref.RawPath != "" {
		u.RawPath = c.base.EscapedPath() + ref.RawPath
	}
	u.RawQuery = ref.RawQuery
	return &u, nil
}

// resolve turns an object URL into an absolute URL: absolute URLs are used as they are;
// anything else (a path such as "/object/<token>") is resolved against the gateway.
func (c *Client) resolve(objectURL string) (*url.URL, error) {
	u, err := url.Parse(objectURL)
	if err != nil {
		return nil, errors.New("assetgateway: invalid object URL")
	}
	if u.IsAbs() {
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, errors.New("assetgateway: invalid object URL: want http(s)")
		}
		return u, nil
	}
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	return c.base.ResolveReference(u), nil
}

// newRequest builds a request with the client's User-Agent.
func (c *Client) newRequest(ctx context.Context, method string, u *url.URL, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("assetgateway: %s %s: %w", method, redactURL(u), err)
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	return req, nil
}

// do sends req. A transport failure is returned without the request's URL in clear (it may
// hold a token), but keeps its cause for errors.Is.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("assetgateway: %s %s: %w", req.Method, redactURL(req.URL), err)
	}
	return resp, nil
}

// controlCall sends one control API request with the Bearer token: in (if not nil) as the
// JSON body, and out (if not nil) decoded from a `want` answer.
func (c *Client) controlCall(ctx context.Context, method, pathAndQuery string, in any, want int, out any) error {
	u, err := c.endpoint(pathAndQuery)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("assetgateway: encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.control)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != want {
		return responseError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxControlResponse)).Decode(out); err != nil {
		return fmt.Errorf("assetgateway: %s %s: decoding the answer: %w", method, redactURL(u), err)
	}
	return nil
}

// drainClose reads what is left of a (small) body so the connection can be reused, then
// closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// redactURL formats u for an error message: no user info, no query, and every path segment
// long enough to be a token cut to its first four characters.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	segs := strings.Split(u.EscapedPath(), "/")
	for i, s := range segs {
		if len(s) >= 16 {
			segs[i] = s[:4] + "…"
		}
	}
	out := strings.Join(segs, "/")
	if u.Host != "" {
		out = u.Scheme + "://" + u.Host + out
	}
	return out
}
