package objstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3 limits (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html) and defaults.
const (
	minPartSize      = 5 << 20 // smallest part S3 accepts (all parts but the last)
	maxPartSize      = 5 << 30 // largest part S3 accepts
	maxParts         = 10000   // most parts in one multipart upload
	maxSinglePutSize = 5 << 30 // largest object one PutObject may create

	defaultPartSize        = 8 << 20
	defaultPartConcurrency = 2
	defaultRegion          = "us-east-1"
	defaultContentType     = "application/octet-stream"

	// abortTimeout bounds AbortMultipartUpload, which runs on a fresh context because the
	// request's context is often the reason the upload failed.
	abortTimeout = 30 * time.Second
)

// S3Options configures one S3 bucket alias.
type S3Options struct {
	// Bucket is the real bucket name. Required.
	Bucket string
	// Region is the signing region. "": us-east-1.
	Region string
	// Endpoint is the S3 API base URL (http:// or https://), e.g. "http://127.0.0.1:9000" or
	// "https://cos.ap-guangzhou.myqcloud.com". "": AWS S3's own endpoint for Region.
	Endpoint string
	// ForcePathStyle addresses objects as endpoint/bucket/key instead of bucket.endpoint/key.
	ForcePathStyle bool
	// AccessKey, SecretKey and SessionToken are static credentials. An empty AccessKey selects
	// the AWS SDK's default chain (environment, shared config files, web identity, instance or
	// task role; AWS_CA_BUNDLE is trusted too); with static credentials neither the
	// environment nor shared config files are consulted.
	AccessKey, SecretKey, SessionToken string
	// CAFile is a PEM bundle of extra certificate authorities trusted for Endpoint, on top of
	// the system roots. "": the system roots only. Not allowed together with HTTPClient.
	CAFile string
	// PartSize is the multipart part size in bytes. 0: 8 MiB. 5 MiB to 5 GiB. Uploads of
	// unknown length hold up to PartSize × (PartConcurrency + 1) bytes of memory and can be at
	// most PartSize × 10000 bytes long.
	PartSize int64
	// PartConcurrency is how many parts of one upload of unknown length are sent at once.
	// 0: 2.
	PartConcurrency int
	// MaxSinglePut is the largest known-length upload sent as one streaming PutObject; larger
	// ones become a streaming multipart upload. 0: 5 GiB, the most S3 accepts.
	MaxSinglePut int64
	// ResponseTimeout bounds the wait for the store's response headers once a request has
	// been sent in full (a stalled store); GET and HEAD make at most ReadAttempts attempts.
	// 0: 20s. Ignored with HTTPClient.
	ResponseTimeout time.Duration
	// HTTPClient sends every request. nil: a client of the backend's own, tuned for one
	// S3 host (see NewS3).
	HTTPClient *http.Client
	// SDKReads sends GET and HEAD through the SDK too, instead of the fast path (s3raw.go).
	// The fast path is also off when HTTPClient is given.
	SDKReads bool
	// UploadBudget, shared by every alias of a process, bounds the memory of buffered parts
	// of uploads of unknown length: uploads wait for a part buffer rather than exceed it.
	// nil: no bound beyond PartSize × (PartConcurrency + 1) per upload.
	UploadBudget *Budget
}

// ReadAttempts is how many times GET and HEAD are tried when the store fails or stalls, so a
// stalled store answers 502 within ReadAttempts × ResponseTimeout (plus a short backoff).
const ReadAttempts = 2

// s3API is the part of the S3 API the backend calls (implemented by *s3.Client).
type s3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3 is a Backend on one bucket of any S3-compatible store (AWS S3, Tencent COS, MinIO, R2, …).
// It is safe for concurrent use; one S3 (and its one s3.Client and connection pool) serves
// every request to its bucket alias.
type S3 struct {
	api          s3API
	bucket       string
	partSize     int64
	concurrency  int
	maxSinglePut int64
	parts        *bufPool        // PartSize buffers for uploads of unknown length
	transport    *http.Transport // owned by the backend; nil when the caller gave HTTPClient
	raw          *rawReader      // GET and HEAD fast path; nil: the SDK serves them
	presign      *s3.PresignClient
}

// NewS3 builds the backend and its one s3.Client. It does no I/O beyond reading CAFile (and,
// for the default credential chain, the environment and shared config files); use Check to
// reach the bucket.
//
// Unless o.HTTPClient is given, requests go through a transport of the backend's own: up to
// 256 idle keep-alive connections (all traffic goes to one host), 5 s to dial and 5 s for the
// TLS handshake, 60 s for response headers once a request has been sent in full, no
// transparent gzip (objects pass through byte for byte), HTTP/1.1 (one TCP connection per
// transfer: concurrent large transfers share no flow-control window and cannot block each
// other, as streams multiplexed over one HTTP/2 connection can), redirects
// not followed (an S3 redirect means a wrong region or endpoint: it surfaces as an error), and
// the proxy named by HTTPS_PROXY/HTTP_PROXY/NO_PROXY, as every AWS SDK and the aws CLI honour
// it (egress through a proxy is common in front of AWS; NO_PROXY exempts a local MinIO).
//
// Every request is made with checksums only where S3 requires them
// (RequestChecksumCalculation and ResponseChecksumValidation "when required"), so downloads
// are not wrapped in checksum readers and uploads carry no trailing checksums, which not every
// S3-compatible store accepts; upload bodies are sent as UNSIGNED-PAYLOAD with their exact
// Content-Length, which streams them unchanged over http:// and https:// alike.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	client := o.HTTPClient
	var tr *http.Transport
	if client == nil {
		caFiles := []string{o.CAFile}
		if o.AccessKey == "" {
			// The default chain honours the SDK's own CA bundle setting, for S3 as for STS.
			caFiles = append(caFiles, os.Getenv("AWS_CA_BUNDLE"))
		}
		tr, err = newS3Transport(o.ResponseTimeout, caFiles...)
		if err != nil {
			return nil, err
		}
		client = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}

	var cfg aws.Config
	if o.AccessKey != "" {
		cfg = aws.Config{
			Region:      o.Region,
			Credentials: credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, o.SessionToken),
		}
	} else {
		// The SDK keeps its own HTTP client for credential providers (STS, SSO, instance
		// metadata); S3 requests go through client, set below.
		cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(o.Region))
		if err != nil {
			return nil, fmt.Errorf("s3 bucket %q: load AWS configuration: %w", o.Bucket, err)
		}
	}

	api := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.HTTPClient = client
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.ForcePathStyle
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// Up to 3 attempts for requests that can be repeated, without the SDK's client-side
		// retry quota: once drained, it fails requests with a quota error that hides the
		// store's real answer.
		so.Retryer = retry.NewStandard(func(ro *retry.StandardOptions) {
			ro.RateLimiter = ratelimit.None
		})
	})
	b := &S3{
		api:          api,
		bucket:       o.Bucket,
		partSize:     o.PartSize,
		concurrency:  o.PartConcurrency,
		maxSinglePut: o.MaxSinglePut,
		parts:        newBufPool(int(o.PartSize), o.UploadBudget),
		transport:    tr,
	}
	if !o.SDKReads && tr != nil {
		b.raw = newRawReader(ctx, api, o.Bucket, o.Region, api.Options().Credentials, tr, o.ResponseTimeout)
	}
	b.presign = s3.NewPresignClient(api)
	return b, nil
}

// PresignGet implements Presigner: a GET URL valid for ttl, whose answer carries the given
// Content-Type, Content-Disposition and Cache-Control (response-* overrides, part of the
// signature, so the client cannot change them).
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration, o ResponseOverrides) (string, error) {
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if o.ContentType != "" {
		in.ResponseContentType = aws.String(o.ContentType)
	}
	if o.ContentDisposition != "" {
		in.ResponseContentDisposition = aws.String(o.ContentDisposition)
	}
	if o.CacheControl != "" {
		in.ResponseCacheControl = aws.String(o.CacheControl)
	}
	req, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3 presign get %q: %w", key, err)
	}
	return req.URL, nil
}

// PresignPut implements Presigner: a PUT URL valid for ttl that only accepts a body of
// exactly size bytes with the given Content-Type (both are signed).
func (s *S3) PresignPut(ctx context.Context, key string, ttl time.Duration, size int64, contentType string) (string, http.Header, error) {
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, ContentLength: aws.Int64(size)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	req, err := s.presign.PresignPutObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", nil, fmt.Errorf("s3 presign put %q: %w", key, err)
	}
	return req.URL, req.SignedHeader, nil
}

// withDefaults fills the zero values and reports every invalid option at once.
func (o S3Options) withDefaults() (S3Options, error) {
	var errs []error
	if o.Bucket == "" {
		errs = append(errs, errors.New("bucket is required"))
	}
	if o.Region == "" {
		o.Region = defaultRegion
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("endpoint: %w", err))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			errs = append(errs, fmt.Errorf("endpoint %q: want an http:// or https:// URL", o.Endpoint))
		}
	}
	if o.AccessKey == "" && (o.SecretKey != "" || o.SessionToken != "") {
		errs = append(errs, errors.New("secret key or session token given without an access key"))
	}
	if o.AccessKey != "" && o.SecretKey == "" {
		errs = append(errs, errors.New("access key given without a secret key"))
	}
	if o.CAFile != "" && o.HTTPClient != nil {
		errs = append(errs, errors.New("CAFile and HTTPClient are mutually exclusive"))
	}
	switch {
	case o.PartSize == 0:
		o.PartSize = defaultPartSize
	case o.PartSize < minPartSize || o.PartSize > maxPartSize:
		errs = append(errs, fmt.Errorf("part size %d: want %d to %d bytes", o.PartSize, minPartSize, int64(maxPartSize)))
	}
	switch {
	case o.PartConcurrency == 0:
		o.PartConcurrency = defaultPartConcurrency
	case o.PartConcurrency < 0:
		errs = append(errs, fmt.Errorf("part concurrency %d: want at least 1", o.PartConcurrency))
	}
	switch {
	case o.MaxSinglePut == 0:
		o.MaxSinglePut = maxSinglePutSize
	case o.MaxSinglePut < 0 || o.MaxSinglePut > maxSinglePutSize:
		errs = append(errs, fmt.Errorf("max single put %d: want 1 to %d bytes", o.MaxSinglePut, int64(maxSinglePutSize)))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("s3 bucket %q: %w", o.Bucket, err)
	}
	return o, nil
}

// newS3Transport returns the transport NewS3 uses when it is given no HTTPClient. It trusts
// the system roots plus the certificates in caFiles ("" entries are ignored).
func newS3Transport(responseTimeout time.Duration, caFiles ...string) (*http.Transport, error) {
	if responseTimeout <= 0 {
		responseTimeout = defaultResponseTimeout
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, caFile := range caFiles {
		if caFile == "" {
			continue
		}
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("s3 CA file: %w", err)
		}
		if tlsConf.RootCAs == nil {
			if tlsConf.RootCAs, err = x509.SystemCertPool(); err != nil {
				tlsConf.RootCAs = x509.NewCertPool()
			}
		}
		if !tlsConf.RootCAs.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("s3 CA file %s: no PEM certificate found", caFile)
		}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: responseTimeout,
		// Bodies above 2 MiB are sent with "Expect: 100-continue": an upload the store refuses
		// (bad credentials, missing bucket) is answered before its body is sent.
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        64 << 10,
	}, nil
}

// Close releases the backend's idle connections. The backend must not be used afterwards.
func (s *S3) Close() error {
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	if s.raw != nil {
		s.raw.Close()
	}
	return nil
}

// Check reports whether the bucket is reachable with the configured credentials (HeadBucket,
// which needs s3:ListBucket).
func (s *S3) Check(ctx context.Context) error {
	if _, err := s.api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("s3 head bucket %q: %w", s.bucket, err)
	}
	return nil
}

// Get implements Backend. The body streams straight from the store's response.
func (s *S3) Get(ctx context.Context, key string, o GetOptions) (*Object, error) {
	rng := wellFormed(o.Range)
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if rng != nil {
		in.Range = aws.String(rng.HeaderValue())
	}

	if !o.Conditions.IsZero() {
		// A conditional GET is usually a revalidation that ends in 304: settle it with a
		// HEAD rather than opening a body only to abandon it.
		if _, err := s.Head(ctx, key, o.Conditions); err != nil {
			return nil, err
		}
	}
	obj, err := s.get(ctx, in, rng)
	if err != nil {
		return nil, err
	}
	if err := o.Conditions.Evaluate(obj.ObjectInfo); err != nil { // the object may have changed since
		obj.Body.Close()
		return nil, fmt.Errorf("s3 get %q: %w", key, err)
	}
	return obj, nil
}

// get runs one GetObject, on the fast path when there is one.
func (s *S3) get(ctx context.Context, in *s3.GetObjectInput, rng *Range) (*Object, error) {
	if s.raw != nil {
		return s.raw.get(ctx, *in.Key, rng)
	}
	out, err := s.api.GetObject(ctx, in, readRetry)
	if err != nil {
		return nil, s.translate(ctx, "get", *in.Key, err)
	}
	obj, err := getObject(out, rng)
	if err != nil {
		out.Body.Close()
		return nil, fmt.Errorf("s3 get %q: %w", *in.Key, err)
	}
	return obj, nil
}

// getObject turns a GetObject answer into an Object. A store that ignored the Range (200 with
// the whole object) is brought in line with Range.Resolve, so that every backend answers a
// range the same way.
func getObject(out *s3.GetObjectOutput, rng *Range) (*Object, error) {
	if out.ContentLength == nil {
		return nil, errors.New("response has no Content-Length")
	}
	length := *out.ContentLength
	obj := &Object{
		ObjectInfo: ObjectInfo{
			Size:         length,
			ContentType:  aws.ToString(out.ContentType),
			ETag:         unquoteETag(aws.ToString(out.ETag)),
			LastModified: aws.ToTime(out.LastModified),
		},
		Body:   out.Body,
		Length: length,
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		start, end, size, ok := parseContentRange(cr)
		if !ok || end-start+1 != length {
			// Some stores answer an unsatisfiable range with a malformed 206 (MinIO says
			// "bytes 0--1/0" for the last byte of an empty object): judge the range against
			// the size the answer names.
			if size, known := contentRangeSize(cr); known && rng != nil {
				if _, _, fits := rng.Resolve(size); !fits {
					return nil, &RangeError{Size: size}
				}
			}
			return nil, fmt.Errorf("response Content-Range %q does not match Content-Length %d", cr, length)
		}
		obj.Size, obj.Start, obj.Partial = size, start, true
		return obj, nil
	}
	if rng == nil {
		return obj, nil
	}
	// The store sent the whole object although a range was asked for.
	start, n, ok := rng.Resolve(length)
	if !ok {
		return nil, &RangeError{Size: length}
	}
	if start > 0 {
		if _, err := io.CopyN(io.Discard, out.Body, start); err != nil {
			return nil, fmt.Errorf("skip to range start: %w", err)
		}
	}
	obj.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(out.Body, n), out.Body}
	obj.Start, obj.Length, obj.Partial = start, n, true
	return obj, nil
}

// parseContentRange parses "bytes first-last/size".
func parseContentRange(v string) (first, last, size int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	span, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	size, err3 = strconv.ParseInt(total, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || size <= last {
		return 0, 0, 0, false
	}
	return first, last, size, true
}

// contentRangeSize returns the complete length a Content-Range value names ("…/size").
func contentRangeSize(v string) (int64, bool) {
	i := strings.LastIndexByte(v, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[i+1:], 10, 64)
	return n, err == nil && n >= 0
}

// Head implements Backend. Preconditions are evaluated here, not by the store: S3-compatible
// stores disagree on entity-tag lists, weak tags and dates (MinIO and versitygw each ignore
// some), and a gateway answers the same way whatever is behind it.
func (s *S3) Head(ctx context.Context, key string, c Conditions) (ObjectInfo, error) {
	info, err := s.head(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := c.Evaluate(info); err != nil {
		return ObjectInfo{}, fmt.Errorf("s3 head %q: %w", key, err)
	}
	return info, nil
}

// head runs one HeadObject, on the fast path when there is one.
func (s *S3) head(ctx context.Context, key string) (ObjectInfo, error) {
	if s.raw != nil {
		return s.raw.head(ctx, key)
	}
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key}, readRetry)
	if err != nil {
		return ObjectInfo{}, s.translate(ctx, "head", key, err)
	}
	return ObjectInfo{
		Size:         aws.ToInt64(out.ContentLength),
		ContentType:  aws.ToString(out.ContentType),
		ETag:         unquoteETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified),
	}, nil
}

// translate maps a Get/Head failure onto the Backend errors, once, here: a missing key becomes
// ErrObjectNotFound, an unsatisfiable range a *RangeError, and anything else stays an upstream
// error that still wraps the SDK's (so context errors remain visible to errors.Is).
//
// S3-compatible stores do not all send typed errors, so codes and HTTP statuses count too.
// A missing bucket is not a missing object: GET says NoSuchBucket. HEAD has no error body, so
// there a missing bucket also reads as a missing object (Check tells them apart).
func (s *S3) translate(ctx context.Context, op, key string, err error) error {
	var noKey *types.NoSuchKey
	var notFound *types.NotFound
	code, status := s3ErrorCode(err), s3HTTPStatus(err)
	switch {
	case code == "NoSuchBucket":
	case errors.As(err, &noKey), errors.As(err, &notFound), code == "NoSuchKey", code == "NotFound",
		status == http.StatusNotFound:
		return fmt.Errorf("s3 %s %q: %w", op, key, ErrObjectNotFound)
	case code == "InvalidRange", status == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("s3 %s %q: %w", op, key, &RangeError{Size: s.sizeAfter416(ctx, key, err)})
	}
	return fmt.Errorf("s3 %s %q: %w", op, key, err)
}

// sizeAfter416 finds the object's size for a 416: from the answer's "Content-Range: bytes
// */size" when the store sent one, else with one HeadObject; -1 when neither tells.
func (s *S3) sizeAfter416(ctx context.Context, key string, err error) int64 {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if v, ok := strings.CutPrefix(re.Response.Header.Get("Content-Range"), "bytes */"); ok {
			if n, perr := strconv.ParseInt(v, 10, 64); perr == nil && n >= 0 {
				return n
			}
		}
	}
	out, herr := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if herr != nil || out.ContentLength == nil {
		return -1
	}
	return *out.ContentLength
}

// s3ErrorCode returns the store's error code ("NoSuchKey"), or "".
func s3ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var re *rawError
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// s3HTTPStatus returns the HTTP status of the store's error answer, or 0.
func s3HTTPStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.HTTPStatusCode()
	}
	var raw *rawError
	if errors.As(err, &raw) {
		return raw.Status
	}
	return 0
}

func unquoteETag(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// unsignedPayload sends the body as UNSIGNED-PAYLOAD: the SDK neither reads it ahead to hash
// it (impossible for an unseekable stream over http://) nor wraps it in aws-chunked encoding.
// Integrity rests on TLS (https) or TCP (http), as for any HTTP upload.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// noRetry makes one attempt only: a streamed body cannot be rewound for a second one.
func noRetry(o *s3.Options) { o.RetryMaxAttempts = 1 }

// readRetry bounds the attempts of GET and HEAD (see ReadAttempts).
func readRetry(o *s3.Options) { o.RetryMaxAttempts = ReadAttempts }

// defaultResponseTimeout is S3Options.ResponseTimeout's default.
const defaultResponseTimeout = 20 * time.Second

// Delete implements Backend.
func (s *S3) Delete(ctx context.Context, key string) error {
	if _, err := s.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil {
		return s.translate(ctx, "delete", key, err)
	}
	return nil
}

// List implements Backend (ListObjectsV2; s3:ListBucket).
func (s *S3) List(ctx context.Context, prefix, after string, limit int) (ListPage, error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, MaxKeys: aws.Int32(int32(limit))}
	if after != "" {
		in.StartAfter = aws.String(prefix + after)
	}
	out, err := s.api.ListObjectsV2(ctx, in, readRetry)
	if err != nil {
		return ListPage{}, fmt.Errorf("s3 list %q: %w", prefix, err)
	}
	page := ListPage{Truncated: aws.ToBool(out.IsTruncated), Entries: make([]ListEntry, 0, len(out.Contents))}
	for _, o := range out.Contents {
		page.Entries = append(page.Entries, ListEntry{
			Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: unquoteETag(aws.ToString(o.ETag)),
			LastModified: aws.ToTime(o.LastModified),
		})
	}
	return page, nil
}

// Put implements Backend.
//
//   - Known size up to MaxSinglePut: one PutObject streaming Body as it arrives.
//   - Known size above it: a multipart upload whose parts stream straight from Body, one after
//     the other, each max(PartSize, ⌈Size/10000⌉) long.
//   - Unknown size: Body is read in PartSize buffers. If it ends within the first part it goes
//     up as one PutObject; otherwise as a multipart upload with up to PartConcurrency parts in
//     flight, holding at most PartSize × (PartConcurrency+1) bytes.
//
// Any failure — Body's error, ctx, the store — aborts the multipart upload, so no partial
// object is ever visible, and an object already stored under Key stays as it was.
func (s *S3) Put(ctx context.Context, in PutInput) (PutResult, error) {
	if in.Size < -1 {
		return PutResult{}, fmt.Errorf("s3 put %q: invalid size %d", in.Key, in.Size)
	}
	ct := in.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	in.ContentType = ct
	body := newUploadBody(ctx, in)
	var etag string
	var err error
	switch {
	case in.Size < 0:
		etag, err = s.putUnknownSize(ctx, in, body)
	case in.Size <= s.maxSinglePut:
		etag, err = s.putObject(ctx, in, body, in.Size, false)
	default:
		etag, err = s.putStreamedParts(ctx, in, body, in.Size)
	}
	if err != nil {
		return PutResult{}, putError("s3 put", in.Key, body, putAnswer(err))
	}
	return PutResult{ETag: etag, Size: body.bytesRead()}, nil
}

// putAnswer recognizes the store's refusals that belong to the contract: a content that
// does not match its declared SHA-256, and an object in place when the upload must not
// overwrite one.
func putAnswer(err error) error {
	code, status := s3ErrorCode(err), s3HTTPStatus(err)
	switch {
	case errors.Is(err, ErrChecksumMismatch), errors.Is(err, ErrPreconditionFailed):
		return err
	case code == "BadDigest", code == "XAmzContentChecksumMismatch", code == "InvalidDigest":
		return fmt.Errorf("%w: %w", ErrChecksumMismatch, err)
	case code == "PreconditionFailed", status == http.StatusPreconditionFailed,
		code == "ConditionalRequestConflict":
		return fmt.Errorf("%w: an object already exists: %w", ErrPreconditionFailed, err)
	}
	return err
}

// putObject sends r (exactly size bytes) as one PutObject. Only a rewindable r is retried.
// The store checks the content against in.SHA256 itself (x-amz-checksum-sha256), so a
// mismatch is refused before anything becomes visible; with in.IfNoneMatch it refuses to
// overwrite ("If-None-Match: *").
func (s *S3) putObject(ctx context.Context, in PutInput, r io.Reader, size int64, rewindable bool) (string, error) {
	if size == 0 {
		r, rewindable = nil, true // an empty body is sent as "Content-Length: 0", never read
	}
	opts := []func(*s3.Options){unsignedPayload}
	if !rewindable {
		opts = append(opts, noRetry)
	}
	req := &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &in.Key,
		Body:          r,
		ContentLength: aws.Int64(size),
		ContentType:   &in.ContentType,
		Metadata:      in.Metadata,
	}
	if in.SHA256 != nil {
		req.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(in.SHA256))
	}
	if in.IfNoneMatch {
		req.IfNoneMatch = aws.String("*")
	}
	out, err := s.api.PutObject(ctx, req, opts...)
	if err != nil {
		return "", err
	}
	return unquoteETag(aws.ToString(out.ETag)), nil
}

// putStreamedParts uploads a body of known size as a multipart upload whose parts are read
// from body while they are sent: nothing is buffered, so parts go one at a time.
func (s *S3) putStreamedParts(ctx context.Context, in PutInput, body *uploadBody, size int64) (string, error) {
	partSize := max(s.partSize, (size+maxParts-1)/maxParts)
	if partSize > maxPartSize {
		return "", fmt.Errorf("%d bytes exceed the largest multipart upload (%d parts of %d bytes)", size, maxParts, int64(maxPartSize))
	}
	mp, err := s.startMultipart(ctx, in)
	if err != nil {
		return "", err
	}
	for num, off := int32(1), int64(0); off < size; num, off = num+1, off+partSize {
		n := min(partSize, size-off)
		if err := mp.uploadPart(ctx, num, io.LimitReader(body, n), n, false); err != nil {
			return "", mp.abort(ctx, err)
		}
	}
	return mp.complete(ctx, body)
}

// putUnknownSize uploads a body of unknown length through PartSize buffers taken from the
// pool (within the process's upload memory budget, if any). A body that fits one part is a
// single PutObject; a longer one is a multipart upload with up to PartConcurrency parts in
// flight. It never waits for a buffer while it holds one it has not sent, so uploads that
// wait on the budget cannot deadlock each other.
func (s *S3) putUnknownSize(ctx context.Context, in PutInput, body *uploadBody) (string, error) {
	la := &lookahead{r: body}
	buf, err := s.parts.acquire(ctx)
	if err != nil {
		return "", err
	}
	n, last, err := la.fill(*buf)
	if err != nil {
		s.parts.release(buf)
		return "", err
	}
	if last {
		defer s.parts.release(buf)
		return s.putObject(ctx, in, bytes.NewReader((*buf)[:n]), int64(n), true)
	}
	mp, err := s.startMultipart(ctx, in)
	if err != nil {
		s.parts.release(buf)
		return "", err
	}
	ps := newPartSender(ctx, mp, s.parts, s.concurrency)
	for num := int32(1); ; num++ {
		if num > maxParts {
			s.parts.release(buf)
			ps.fail(fmt.Errorf("upload of unknown length exceeds %d parts of %d bytes", maxParts, s.partSize))
			break
		}
		if !ps.send(num, buf, n) || last { // send owns buf from here on
			break
		}
		if buf, err = s.parts.acquire(ctx); err != nil {
			ps.fail(err)
			break
		}
		if n, last, err = la.fill(*buf); err != nil {
			s.parts.release(buf)
			ps.fail(err)
			break
		}
	}
	if err := ps.wait(); err != nil {
		return "", mp.abort(ctx, err)
	}
	return mp.complete(ctx, body)
}

// lookahead reads a body part by part and tells, with each full part, whether the body goes
// on — by reading one byte ahead, which it then puts first in the next part.
type lookahead struct {
	r    io.Reader
	next [1]byte
	has  bool
}

// fill reads into buf until it is full or the body ends; last reports that these n bytes
// end the body.
func (l *lookahead) fill(buf []byte) (n int, last bool, err error) {
	if l.has {
		buf[0], n, l.has = l.next[0], 1, false
	}
	m, err := io.ReadFull(l.r, buf[n:])
	n += m
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return n, true, nil
	case err != nil:
		return n, false, err
	}
	switch k, err := io.ReadFull(l.r, l.next[:]); {
	case k == 1:
		l.has = true
		return n, false, nil
	case err == io.EOF:
		return n, true, nil
	default:
		return n, false, err
	}
}

// multipart is one multipart upload in progress.
type multipart struct {
	s   *S3
	in  PutInput
	key string
	id  string

	mu    sync.Mutex
	parts []types.CompletedPart
}

func (s *S3) startMultipart(ctx context.Context, in PutInput) (*multipart, error) {
	key := in.Key
	out, err := s.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      &s.bucket,
		Key:         &key,
		ContentType: &in.ContentType,
		Metadata:    in.Metadata,
	})
	if err != nil {
		return nil, fmt.Errorf("create multipart upload: %w", err)
	}
	if aws.ToString(out.UploadId) == "" {
		return nil, errors.New("create multipart upload: store returned no upload id")
	}
	return &multipart{s: s, in: in, key: key, id: *out.UploadId}, nil
}

// uploadPart sends part num (exactly size bytes of r). Only a rewindable r is retried.
func (m *multipart) uploadPart(ctx context.Context, num int32, r io.Reader, size int64, rewindable bool) error {
	opts := []func(*s3.Options){unsignedPayload}
	if !rewindable {
		opts = append(opts, noRetry)
	}
	out, err := m.s.api.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:        &m.s.bucket,
		Key:           &m.key,
		UploadId:      &m.id,
		PartNumber:    aws.Int32(num),
		Body:          r,
		ContentLength: aws.Int64(size),
	}, opts...)
	if err != nil {
		return fmt.Errorf("upload part %d: %w", num, err)
	}
	// Only the number and ETag: per-part checksums must not be repeated in
	// CompleteMultipartUpload when the upload was created without a checksum algorithm.
	m.mu.Lock()
	m.parts = append(m.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag})
	m.mu.Unlock()
	return nil
}

// complete assembles the parts into the object and returns its ETag. On failure the upload is
// aborted.
// The upload's content must hash to m.in.SHA256 (when set): else it is aborted and nothing
// becomes visible. With m.in.IfNoneMatch the store refuses to complete over an existing object.
func (m *multipart) complete(ctx context.Context, body *uploadBody) (string, error) {
	if err := body.checkSum(m.in.SHA256); err != nil {
		return "", m.abort(ctx, err)
	}
	m.mu.Lock()
	parts := slices.Clone(m.parts)
	m.mu.Unlock()
	slices.SortFunc(parts, func(a, b types.CompletedPart) int {
		return int(aws.ToInt32(a.PartNumber)) - int(aws.ToInt32(b.PartNumber))
	})
	req := &s3.CompleteMultipartUploadInput{
		Bucket:          &m.s.bucket,
		Key:             &m.key,
		UploadId:        &m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if m.in.IfNoneMatch {
		req.IfNoneMatch = aws.String("*")
	}
	out, err := m.s.api.CompleteMultipartUpload(ctx, req)
	if err != nil {
		return "", m.abort(ctx, fmt.Errorf("complete multipart upload: %w", err))
	}
	return unquoteETag(aws.ToString(out.ETag)), nil
}

// abort discards the upload and its stored parts, on a fresh bounded context (ctx may be the
// reason the upload failed), and returns cause, with the abort's own failure noted.
func (m *multipart) abort(ctx context.Context, cause error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := m.s.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket:   &m.s.bucket,
		Key:      &m.key,
		UploadId: &m.id,
	})
	if err != nil && s3ErrorCode(err) != "NoSuchUpload" {
		return fmt.Errorf("%w (abort multipart upload %s also failed: %v)", cause, m.id, err)
	}
	return cause
}

// partSender uploads buffered parts with at most limit in flight. Its goroutines are owned by
// the upload that made it: wait must be called before the upload returns.
//
// When a part fails, the parts already in flight are left to finish rather than cut off, so
// that no part upload is still in progress at the store when the upload is aborted (a store
// may keep a part that arrives after the abort). Only ctx — the client gone, the server
// shutting down — cuts them short.
type partSender struct {
	ctx   context.Context
	mp    *multipart
	bufs  *bufPool
	slots chan struct{}
	wg    sync.WaitGroup

	mu  sync.Mutex
	err error
}

func newPartSender(ctx context.Context, mp *multipart, bufs *bufPool, limit int) *partSender {
	return &partSender{ctx: ctx, mp: mp, bufs: bufs, slots: make(chan struct{}, limit)}
}

// send uploads (*buf)[:n] as part num in the background and returns the buffer to the pool
// when done. It waits for a free slot first. It reports false, having returned the buffer,
// when the upload has already failed.
func (p *partSender) send(num int32, buf *[]byte, n int) bool {
	select {
	case p.slots <- struct{}{}:
	case <-p.ctx.Done():
		p.bufs.release(buf)
		p.fail(p.ctx.Err())
		return false
	}
	if p.failed() {
		<-p.slots
		p.bufs.release(buf)
		return false
	}
	p.wg.Add(1)
	go func() {
		defer func() {
			p.bufs.release(buf)
			<-p.slots
			p.wg.Done()
		}()
		if err := p.mp.uploadPart(p.ctx, num, bytes.NewReader((*buf)[:n]), int64(n), true); err != nil {
			p.fail(err)
		}
	}()
	return true
}

// fail records the upload's first error.
func (p *partSender) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *partSender) failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err != nil
}

// wait waits for every part in flight and returns the first error.
func (p *partSender) wait() error {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
