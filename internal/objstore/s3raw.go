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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// rawReader serves GET and HEAD — the hot path — without the SDK's per-request middleware
// stack and without net/http's transport: a request is signed once with the SDK's own SigV4
// signer and written on a pooled keep-alive HTTP/1.1 connection, and the response is read
// with net/http's parser. Over plain TCP a GET body is not copied through user space at
// all: it implements io.WriterTo with an io.LimitedReader of the *net.TCPConn, which
// net/http's response writer hands to the kernel (splice(2)).
//
// Profiles of the bench showed the SDK's middleware (endpoint rules, serializers,
// deserializers) and the transport's goroutines costing more CPU than the copy of a 1 KiB
// object, and the read/write copy loop bounding a large download below what nginx does. The
// SDK still does everything else (uploads, multipart, deletes, bucket checks), and the
// endpoint itself is taken from it: the base URL is what the SDK's own presigner produces.
type rawReader struct {
	scheme, host    string // "http" or "https"; host[:port]
	basePath        string // "" (virtual-hosted) or "/bucket" (path style)
	addr            string // dial address
	region          string
	creds           aws.CredentialsProvider
	signer          *v4.Signer
	dialer          net.Dialer
	tlsConf         *tls.Config
	responseTimeout time.Duration
	idle            chan *rawConn
}

// rawConn is one keep-alive connection and its reader.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

// maxIdleRaw bounds the idle connections kept per bucket alias.
const maxIdleRaw = 256

// emptySHA256 is the SHA-256 of an empty payload, which GET and HEAD requests sign.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// newRawReader derives the endpoint from the SDK's presigner (so it is the URL the SDK would
// use: region endpoints, virtual-hosted or path style, custom endpoints alike). It returns
// nil when the endpoint is not one it can talk to (then the SDK serves GET and HEAD too).
func newRawReader(ctx context.Context, api *s3.Client, bucket, region string, creds aws.CredentialsProvider,
	tr *http.Transport, responseTimeout time.Duration) *rawReader {
	const probe = "assetgateway-endpoint-probe"
	pre, err := s3.NewPresignClient(api).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(probe)},
		func(o *s3.PresignOptions) {
			// Placeholder keys: only the URL's host and path are kept, so no real credential
			// is fetched (the default chain may need the network) or exposed.
			o.ClientOptions = append(o.ClientOptions, func(so *s3.Options) {
				so.Credentials = credentials.NewStaticCredentialsProvider("probe", "probe", "")
			})
		})
	if err != nil || tr == nil {
		return nil
	}
	u, err := url.Parse(pre.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasSuffix(u.Path, "/"+probe) {
		return nil
	}
	r := &rawReader{
		scheme: u.Scheme, host: u.Host, basePath: strings.TrimSuffix(u.Path, "/"+probe),
		region: region, creds: creds, signer: v4.NewSigner(),
		dialer:          net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		responseTimeout: responseTimeout,
		idle:            make(chan *rawConn, maxIdleRaw),
	}
	if r.responseTimeout <= 0 {
		r.responseTimeout = defaultResponseTimeout
	}
	r.addr = u.Host
	if u.Port() == "" {
		r.addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if u.Scheme == "https" {
		r.tlsConf = tr.TLSClientConfig.Clone()
		if r.tlsConf == nil {
			r.tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		r.tlsConf.ServerName = u.Hostname()
		r.tlsConf.NextProtos = []string{"http/1.1"}
	}
	return r
}

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
func (r *rawReader) newRequest(ctx context.Context, method, key string, rng *Range) (*http.Request, error) {
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

// aLongTimeAgo is a deadline in the past: it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

func (r *rawReader) dial(ctx context.Context) (*rawConn, error) {
	c, err := r.dialer.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return nil, err
	}
	if r.tlsConf != nil {
		tc := tls.Client(c, r.tlsConf)
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return &rawConn{c: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (r *rawReader) put(rc *rawConn) {
	select {
	case r.idle <- rc:
	default:
		rc.c.Close()
	}
}

// Close closes the idle connections.
func (r *rawReader) Close() {
	for {
		select {
		case rc := <-r.idle:
			rc.c.Close()
		default:
			return
		}
	}
}

// errStale marks a failure on a reused connection before any answer arrived: the store had
// closed it while idle, so the request is sent again on a fresh connection.
var errStale = errors.New("stale connection")

// retryable reports whether an answer deserves a second attempt, as the SDK's retryer does.
func retryable(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// roundTrip sends req and reads the response head, retrying as the SDK would: a stale pooled
// connection at once, a network failure or a 5xx once more (ReadAttempts in all). The caller
// owns rc afterwards (a body, if any, is still on the wire) and must release it.
func (r *rawReader) roundTrip(ctx context.Context, req *http.Request) (*http.Response, *rawConn, func() bool, error) {
	for attempt := 1; ; attempt++ {
		rc, reused := r.conn()
		if rc == nil {
			var err error
			if rc, err = r.dial(ctx); err != nil {
				return nil, nil, nil, err
			}
		}
		resp, stop, err := r.exchange(ctx, rc, req)
		if err == nil && !(retryable(resp.StatusCode) && attempt < ReadAttempts) {
			return resp, rc, stop, nil
		}
		if err == nil {
			stop()
			err = &rawError{Status: resp.StatusCode}
		}
		rc.c.Close()
		switch {
		case ctx.Err() != nil:
			return nil, nil, nil, ctx.Err()
		case reused && errors.Is(err, errStale):
			attempt-- // not the store's failure: the idle connection had been closed
			r.Close() // the other idle ones very likely were too
			continue
		case attempt >= ReadAttempts:
			return nil, nil, nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// conn takes an idle connection, if there is one.
func (r *rawReader) conn() (*rawConn, bool) {
	select {
	case rc := <-r.idle:
		return rc, true
	default:
		return nil, false
	}
}

// exchange writes req on rc and reads the response head within the response timeout.
func (r *rawReader) exchange(ctx context.Context, rc *rawConn, req *http.Request) (*http.Response, func() bool, error) {
	_ = rc.c.SetDeadline(time.Now().Add(r.responseTimeout))
	stop := context.AfterFunc(ctx, func() { _ = rc.c.SetDeadline(aLongTimeAgo) })
	bw := bufio.NewWriterSize(rc.c, 2048)
	if err := writeRequest(bw, req); err != nil {
		stop()
		return nil, nil, fmt.Errorf("%w: %w", errStale, err)
	}
	if _, err := rc.br.Peek(1); err != nil {
		stop()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, nil, fmt.Errorf("%w: %w", errStale, err)
		}
		return nil, nil, err
	}
	resp, err := http.ReadResponse(rc.br, req)
	if err != nil {
		stop()
		return nil, nil, err
	}
	_ = rc.c.SetDeadline(time.Time{}) // the body streams as long as the client reads
	return resp, stop, nil
}

// release returns rc to the pool when it is clean (its answer read to the end, no
// cancellation in flight, no "Connection: close"), else closes it.
func (r *rawReader) release(rc *rawConn, stop func() bool, clean bool) {
	if stop() && clean {
		r.put(rc)
		return
	}
	rc.c.Close()
}

// Get implements the GET fast path. It answers like S3.Get.
func (r *rawReader) get(ctx context.Context, key string, rng *Range) (*Object, error) {
	req, err := r.newRequest(ctx, http.MethodGet, key, rng)
	if err != nil {
		return nil, err
	}
	resp, rc, stop, err := r.roundTrip(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("s3 get %q: %w", key, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return nil, r.fail(ctx, resp, rc, stop, "get", key)
	}
	var body io.ReadCloser
	if resp.ContentLength < 0 || len(resp.TransferEncoding) > 0 {
		// Not a plain length-delimited body: read it through net/http's decoder.
		body = &decodedBody{resp: resp, rc: rc, stop: stop, owner: r}
	} else {
		body = &rawBody{rc: rc, remaining: resp.ContentLength, reuse: !resp.Close, stop: stop, owner: r}
	}
	obj, err := objectFrom(resp, rng, body)
	if err != nil {
		body.Close()
		return nil, fmt.Errorf("s3 get %q: %w", key, err)
	}
	return obj, nil
}

// head implements HEAD.
func (r *rawReader) head(ctx context.Context, key string) (ObjectInfo, error) {
	req, err := r.newRequest(ctx, http.MethodHead, key, nil)
	if err != nil {
		return ObjectInfo{}, err
	}
	resp, rc, stop, err := r.roundTrip(ctx, req)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("s3 head %q: %w", key, err)
	}
	if resp.StatusCode != http.StatusOK {
		return ObjectInfo{}, r.fail(ctx, resp, rc, stop, "head", key)
	}
	r.release(rc, stop, !resp.Close)
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

// objectFrom describes a 200/206 answer as an Object with the given body, judging the range
// the way S3.Get does (a store that ignored the range is brought in line).
func objectFrom(resp *http.Response, rng *Range, body io.ReadCloser) (*Object, error) {
	out := &s3.GetObjectOutput{
		ContentLength: aws.Int64(resp.ContentLength),
		ContentType:   aws.String(resp.Header.Get("Content-Type")),
		ETag:          aws.String(resp.Header.Get("ETag")),
		LastModified:  aws.Time(lastModified(resp.Header)),
		Body:          body,
	}
	if resp.ContentLength < 0 {
		out.ContentLength = nil
	}
	if cr := resp.Header.Get("Content-Range"); cr != "" {
		out.ContentRange = aws.String(cr)
	}
	return getObject(out, rng)
}

// s3ErrorBody is the part of S3's XML error document the gateway reads.
type s3ErrorBody struct {
	Code string `xml:"Code"`
}

// rawError is a store's error answer on the fast path; it carries what translate needs.
type rawError struct {
	Status int
	Code   string
	Header http.Header
}

func (e *rawError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("s3 answered %d %s", e.Status, e.Code)
	}
	return fmt.Sprintf("s3 answered %d", e.Status)
}

// fail reads an error answer (at most 64 KiB of it), releases the connection and translates
// the answer like S3.translate does.
func (r *rawReader) fail(ctx context.Context, resp *http.Response, rc *rawConn, stop func() bool, op, key string) error {
	var doc s3ErrorBody
	clean := !resp.Close
	if resp.Request.Method != http.MethodHead {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = xml.Unmarshal(b, &doc)
		clean = clean && err == nil && resp.ContentLength >= 0 && int64(len(b)) == resp.ContentLength
	}
	r.release(rc, stop, clean)
	e := &rawError{Status: resp.StatusCode, Code: doc.Code, Header: resp.Header}
	switch {
	case e.Code == "NoSuchBucket":
	case e.Code == "NoSuchKey", e.Code == "NotFound", e.Status == http.StatusNotFound:
		return fmt.Errorf("s3 %s %q: %w", op, key, ErrObjectNotFound)
	case e.Code == "InvalidRange", e.Status == http.StatusRequestedRangeNotSatisfiable:
		size := int64(-1)
		if v, ok := strings.CutPrefix(resp.Header.Get("Content-Range"), "bytes */"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				size = n
			}
		}
		if size < 0 { // the store did not say: ask (the 416 needs "Content-Range: bytes */size")
			if info, err := r.head(ctx, key); err == nil {
				size = info.Size
			}
		}
		return fmt.Errorf("s3 %s %q: %w", op, key, &RangeError{Size: size})
	}
	return fmt.Errorf("s3 %s %q: %w", op, key, e)
}

// rawBody streams a length-delimited GET body straight off the connection, and returns the
// connection to the pool once the body has been read to its end. Read, WriteTo and Close are
// called from one goroutine.
type rawBody struct {
	rc        *rawConn
	remaining int64
	reuse     bool
	stop      func() bool
	owner     *rawReader
	closed    bool
}

func (b *rawBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.rc.br.Read(p)
	b.remaining -= int64(n)
	switch {
	case err == io.EOF && b.remaining > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && b.remaining == 0:
		err = io.EOF
	}
	return n, err
}

// WriteTo sends what the reader already buffered, then lets w take the rest from the
// connection itself: for a *net.TCPConn, net/http's response writer splices it.
func (b *rawBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if n := min(int64(b.rc.br.Buffered()), b.remaining); n > 0 {
		m, err := io.CopyN(w, b.rc.br, n)
		total += m
		b.remaining -= m
		if err != nil {
			return total, err
		}
	}
	if b.remaining > 0 {
		m, err := io.Copy(w, &io.LimitedReader{R: b.rc.c, N: b.remaining})
		total += m
		b.remaining -= m
		if err == nil && b.remaining > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close returns the connection to the pool if the body was read to its end, else closes it
// (an unread rest cannot be skipped cheaply).
func (b *rawBody) Close() error {
	if !b.closed {
		b.closed = true
		b.owner.release(b.rc, b.stop, b.remaining == 0 && b.reuse)
	}
	return nil
}

// decodedBody reads a body net/http had to decode (chunked, or no length), then releases the
// connection like rawBody.
type decodedBody struct {
	resp   *http.Response
	rc     *rawConn
	stop   func() bool
	owner  *rawReader
	eof    bool
	closed bool
}

func (b *decodedBody) Read(p []byte) (int, error) {
	n, err := b.resp.Body.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *decodedBody) Close() error {
	if !b.closed {
		b.closed = true
		b.resp.Body.Close()
		b.owner.release(b.rc, b.stop, b.eof && !b.resp.Close)
	}
	return nil
}
