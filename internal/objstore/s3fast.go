package objstore

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/assetgateway/assetgateway/internal/byterange"
)

// fastReader serves GET and HEAD of objects — the hot path — without the SDK's per-request
// middleware: a request is signed with the SDK's SigV4 signer and the backend's credentials,
// written on a pooled keep-alive HTTP/1.1 connection dialled with the backend's transport
// settings, and its answer read with net/http's parser. Its failures present themselves as
// the SDK's do (an S3 error code and an HTTP status), so the backend's one error map and the
// SDK's retryer judge them; a refusal for clock skew is handed to the SDK path, which corrects
// its clock from the store's answer.
//
// Over plain TCP a GET body is not copied through user space at all: it implements
// io.WriterTo with an io.LimitedReader of the *net.TCPConn, which net/http's response writer
// hands to the kernel (splice(2)). BenchmarkS3Get compares it with the SDK path.
//
// It is used only when no HTTP proxy applies to the endpoint; then the SDK serves GET and
// HEAD too, through net/http's proxy support.
type fastReader struct {
	s               *S3
	scheme, host    string // "http" or "https"; host[:port]
	basePath        string // "" (virtual-hosted) or "/bucket" (path style)
	addr            string // dial address
	region          string
	creds           aws.CredentialsProvider
	signer          *v4.Signer
	tls             *tls.Config // nil for http
	responseTimeout time.Duration
	pool            connPool
}

// emptySHA256 is the SHA-256 of an empty payload, which GET and HEAD requests sign.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// newFastReader derives the endpoint from the SDK's presigner (so it is the URL the SDK would
// use: region endpoints, virtual-hosted or path style, custom endpoints alike). It returns
// nil when the endpoint is not one it can talk to directly (then the SDK serves GET and HEAD).
func newFastReader(ctx context.Context, s *S3, region string, creds aws.CredentialsProvider) *fastReader {
	const probe = "assetgateway-endpoint-probe"
	pre, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(probe)},
		func(o *s3.PresignOptions) {
			// Placeholder keys: only the URL's host and path are kept, so no real credential
			// is fetched (the default chain may need the network) or exposed.
			o.ClientOptions = append(o.ClientOptions, func(so *s3.Options) {
				so.Credentials = credentials.NewStaticCredentialsProvider("probe", "probe", "")
			})
		})
	if err != nil {
		return nil
	}
	u, err := url.Parse(pre.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasSuffix(u.Path, "/"+probe) {
		return nil
	}
	if !s.tr.direct(&http.Request{Method: http.MethodGet, URL: u}) {
		return nil
	}
	r := &fastReader{
		s: s, scheme: u.Scheme, host: u.Host, basePath: strings.TrimSuffix(u.Path, "/"+probe),
		region: region, creds: creds, signer: v4.NewSigner(), responseTimeout: s.tr.responseTimeout,
		pool: connPool{timeout: s.tr.idleTimeout},
	}
	r.addr = u.Host
	if u.Port() == "" {
		r.addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if u.Scheme == "https" {
		r.tls = s.tr.tls.Clone()
		r.tls.ServerName = u.Hostname()
		r.tls.NextProtos = []string{"http/1.1"}
	}
	return r
}

func (r *fastReader) close() { r.pool.closeAll() }

// escapeKey escapes an object key for the request path the way S3 signs it: every byte but
// the unreserved characters and "/" is percent-encoded.
func escapeKey(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key) + 16)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// newRequest builds and signs a GET or HEAD of key.
func (r *fastReader) newRequest(ctx context.Context, method, key string, rng *byterange.Range) (*http.Request, error) {
	escaped := r.basePath + "/" + escapeKey(key)
	u := &url.URL{Scheme: r.scheme, Host: r.host, Path: r.basePath + "/" + key, RawPath: escaped}
	req := &http.Request{Method: method, URL: u, Host: r.host, Header: make(http.Header, 6), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	if rng != nil {
		req.Header.Set("Range", rng.HeaderValue())
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	creds, err := r.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("s3 credentials: %w", err)
	}
	err = r.signer.SignHTTP(ctx, creds, req, emptySHA256, "s3", r.region, time.Now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		return nil, fmt.Errorf("s3 sign: %w", err)
	}
	return req, nil
}

// writeRequest writes the request head (GET and HEAD have no body).
func writeRequest(w *bufio.Writer, req *http.Request) error {
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.EscapedPath())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(req.Host)
	w.WriteString("\r\nUser-Agent: assetgateway\r\n")
	for k, vs := range req.Header {
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
	return w.Flush()
}

// do sends a GET or HEAD and returns a 2xx answer, retrying as the SDK's retryer decides
// (attempts bounded by ReadAttempts, its backoff, never past ctx). An error answer comes back
// as a *fastError. The caller owns fc afterwards (a body, if any, is still on the wire) and
// must release it.
func (r *fastReader) do(ctx context.Context, method, key string, rng *byterange.Range) (*http.Response, *fastConn, error) {
	for attempt := 1; ; attempt++ {
		resp, fc, err := r.once(ctx, method, key, rng)
		if err == nil {
			return resp, fc, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if attempt >= ReadAttempts || !r.s.retryer.IsErrorRetryable(err) {
			return nil, nil, err
		}
		delay, derr := r.s.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return nil, nil, err
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return nil, nil, err
		}
	}
}

// once makes one attempt. A pooled connection the store had closed while idle fails before
// any answer arrives: the request then goes out again at once on a fresh connection, as
// net/http does, without counting as an attempt.
func (r *fastReader) once(ctx context.Context, method, key string, rng *byterange.Range) (*http.Response, *fastConn, error) {
	req, err := r.newRequest(ctx, method, key, rng)
	if err != nil {
		return nil, nil, err
	}
	for {
		fc := r.pool.get()
		reused := fc != nil
		if !reused {
			if fc, err = r.dial(ctx); err != nil {
				return nil, nil, err
			}
		}
		resp, err := fc.exchange(ctx, req, r.responseTimeout)
		switch {
		case err == nil && httpStatusOK(resp.StatusCode):
			return resp, fc, nil
		case err == nil:
			return nil, nil, r.fail(resp, fc)
		}
		fc.close()
		if reused && errors.Is(err, errStale) && ctx.Err() == nil {
			continue // the idle connection had been closed: not the store's failure
		}
		return nil, nil, err
	}
}

// fastError is a store's error answer on the fast path. It presents itself as the SDK's
// errors do (smithy.APIError, an HTTP status), so faultOf and the SDK's retryer read it alike.
type fastError struct {
	status int
	code   string
	header http.Header
}

func (e *fastError) Error() string {
	if e.code != "" {
		return fmt.Sprintf("s3 answered %d %s", e.status, e.code)
	}
	return fmt.Sprintf("s3 answered %d", e.status)
}

// ErrorCode, ErrorMessage and ErrorFault implement smithy.APIError.
func (e *fastError) ErrorCode() string    { return e.code }
func (e *fastError) ErrorMessage() string { return e.Error() }
func (e *fastError) ErrorFault() smithy.ErrorFault {
	if e.status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// HTTPStatusCode is the answer's status, as the SDK's response errors report it.
func (e *fastError) HTTPStatusCode() int { return e.status }

// fail reads an error answer (at most 64 KiB of it) into a *fastError and releases the
// connection.
func (r *fastReader) fail(resp *http.Response, fc *fastConn) error {
	var doc struct {
		Code string `xml:"Code"`
	}
	clean := !resp.Close
	if resp.Request.Method != http.MethodHead {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = xml.Unmarshal(b, &doc)
		clean = clean && err == nil && resp.ContentLength >= 0 && int64(len(b)) == resp.ContentLength
	}
	r.release(fc, clean)
	return &fastError{status: resp.StatusCode, code: doc.Code, header: resp.Header}
}

// get serves a GET on the fast path.
func (r *fastReader) get(ctx context.Context, key string, rng *byterange.Range) (*Object, error) {
	resp, fc, err := r.do(ctx, http.MethodGet, key, rng)
	if err != nil {
		return nil, err
	}
	var body io.ReadCloser
	if resp.ContentLength < 0 || len(resp.TransferEncoding) > 0 {
		// Not a plain length-delimited body: read it through net/http's decoder.
		body = &decodedBody{resp: resp, fc: fc, owner: r}
	} else {
		body = &fastBody{fc: fc, remaining: resp.ContentLength, reuse: !resp.Close, owner: r}
	}
	obj, err := openObject(answer{
		length:       resp.ContentLength,
		contentType:  resp.Header.Get("Content-Type"),
		etag:         resp.Header.Get("ETag"),
		lastModified: lastModified(resp.Header),
		contentRange: resp.Header.Get("Content-Range"),
		body:         body,
	}, rng)
	if err != nil {
		body.Close()
		return nil, err
	}
	return obj, nil
}

// head serves a HEAD on the fast path.
func (r *fastReader) head(ctx context.Context, key string) (ObjectInfo, error) {
	resp, fc, err := r.do(ctx, http.MethodHead, key, nil)
	if err != nil {
		return ObjectInfo{}, err
	}
	r.release(fc, !resp.Close)
	return ObjectInfo{
		Size:         resp.ContentLength,
		ContentType:  resp.Header.Get("Content-Type"),
		ETag:         unquoteETag(resp.Header.Get("ETag")),
		LastModified: lastModified(resp.Header),
	}, nil
}

func lastModified(h http.Header) time.Time {
	t, _ := http.ParseTime(h.Get("Last-Modified"))
	return t
}

// release returns fc to the pool when it is clean (its answer read to the end, no
// cancellation in flight, no "Connection: close"), else closes it.
func (r *fastReader) release(fc *fastConn, clean bool) {
	if fc.stop() && clean {
		r.pool.put(fc)
		return
	}
	fc.close()
}
