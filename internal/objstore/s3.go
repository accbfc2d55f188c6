package objstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 limits (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
const (
	MinPartSize      = 5 << 20 // smallest part S3 accepts (all parts but the last)
	MaxPartSize      = 5 << 30 // largest part S3 accepts
	MaxParts         = 10000   // most parts in one multipart upload
	maxSinglePutSize = 5 << 30 // largest object one PutObject may create

	defaultContentType = "application/octet-stream"

	// abortTimeout bounds AbortMultipartUpload, which runs on a fresh context because the
	// request's context is often the reason the upload failed.
	abortTimeout = 30 * time.Second
)

// S3Options configures one S3 bucket alias. The defaults of every field live in
// internal/config; here a zero value is an error unless its comment says otherwise.
type S3Options struct {
	// Bucket is the real bucket name.
	Bucket string
	// Region is the signing region.
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
	// the system roots. "": the system roots only.
	CAFile string
	// PartSize is the multipart part size in bytes, 5 MiB to 5 GiB. Uploads of unknown
	// length hold up to PartSize × (PartConcurrency + 1) bytes of memory and can be at most
	// PartSize × 10000 bytes long.
	PartSize int64
	// PartConcurrency is how many parts of one upload of unknown length are sent at once.
	PartConcurrency int
	// MaxSinglePut is the largest known-length upload sent as one streaming PutObject; larger
	// ones become a streaming multipart upload. 0: 5 GiB, the most S3 accepts.
	MaxSinglePut int64
	// ResponseTimeout bounds the wait for the store's response headers once a request has
	// been sent in full (a stalled store); GET and HEAD make at most ReadAttempts attempts.
	ResponseTimeout time.Duration
	// UploadBudget, shared by every alias of a process, bounds the memory of buffered parts
	// of uploads of unknown length: uploads wait for a part buffer rather than exceed it.
	// Required.
	UploadBudget *UploadBudget
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
	ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error)
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3 is a Backend on one bucket of any S3-compatible store (AWS S3, Tencent COS, MinIO, R2, …).
// It is safe for concurrent use; one S3 (one s3.Client, one transport) serves every request
// to its bucket alias.
//
// Every request goes through the AWS SDK, except GET and HEAD of objects, which take the
// fast path (s3fast.go) when the endpoint is reached directly (no HTTP proxy applies): the
// same transport settings, signer, credentials, retry policy and error map, without the
// SDK's per-request middleware and with a zero-copy body. BenchmarkS3Get measures why.
type S3 struct {
	api          s3API
	bucket       string
	partSize     int64
	concurrency  int
	maxSinglePut int64
	parts        *bufPool // PartSize buffers for uploads of unknown length
	tr           *transport
	retryer      aws.RetryerV2 // the SDK's retry policy, also followed by the fast path
	fast         *fastReader   // nil: GET and HEAD go through the SDK too
	presign      *s3.PresignClient
}

// NewS3 builds the backend, its s3.Client and its transport. It does no I/O beyond reading
// CAFile (and, for the default credential chain, the environment and shared config files);
// use Check to reach the bucket.
//
// Every request is made with checksums only where S3 requires them
// (RequestChecksumCalculation and ResponseChecksumValidation "when required"), so downloads
// are not wrapped in checksum readers and uploads carry no trailing checksums, which not every
// S3-compatible store accepts; upload bodies are sent as UNSIGNED-PAYLOAD with their exact
// Content-Length, which streams them unchanged over http:// and https:// alike.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	caFiles := []string{o.CAFile}
	if o.AccessKey == "" {
		// The default chain honours the SDK's own CA bundle setting, for S3 as for STS.
		caFiles = append(caFiles, os.Getenv("AWS_CA_BUNDLE"))
	}
	tr, err := newTransport(o.ResponseTimeout, caFiles...)
	if err != nil {
		return nil, fmt.Errorf("s3 bucket %q: %w", o.Bucket, err)
	}
	return newS3(ctx, o, tr)
}

// newS3 builds the backend on tr.
func newS3(ctx context.Context, o S3Options, tr *transport) (*S3, error) {
	var cfg aws.Config
	if o.AccessKey != "" {
		cfg = aws.Config{
			Region:      o.Region,
			Credentials: credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, o.SessionToken),
		}
	} else {
		// The SDK keeps its own HTTP client for credential providers (STS, SSO, instance
		// metadata); S3 requests go through tr, set below.
		var err error
		cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(o.Region))
		if err != nil {
			return nil, fmt.Errorf("s3 bucket %q: load AWS configuration: %w", o.Bucket, err)
		}
	}
	// Up to 3 attempts for requests that can be repeated, without the SDK's client-side
	// retry quota: once drained, it fails requests with a quota error that hides the store's
	// real answer. The fast path follows the same retryer.
	retryer := retry.NewStandard(func(ro *retry.StandardOptions) { ro.RateLimiter = ratelimit.None })
	api := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.HTTPClient = tr.client
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.ForcePathStyle
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		so.Retryer = retryer
	})
	maxSingle := o.MaxSinglePut
	if maxSingle == 0 {
		maxSingle = maxSinglePutSize
	}
	b := &S3{
		api:          api,
		bucket:       o.Bucket,
		partSize:     o.PartSize,
		concurrency:  o.PartConcurrency,
		maxSinglePut: maxSingle,
		parts:        newBufPool(int(o.PartSize), o.UploadBudget),
		tr:           tr,
		retryer:      retryer,
		presign:      s3.NewPresignClient(api),
	}
	b.fast = newFastReader(ctx, b, o.Region, api.Options().Credentials)
	return b, nil
}

// validate reports every invalid option at once.
func (o S3Options) validate() error {
	var errs []error
	if o.Bucket == "" {
		errs = append(errs, errors.New("bucket is required"))
	}
	if o.Region == "" {
		errs = append(errs, errors.New("region is required"))
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
	if o.PartSize < MinPartSize || o.PartSize > MaxPartSize {
		errs = append(errs, fmt.Errorf("part size %d: want %d to %d bytes", o.PartSize, MinPartSize, int64(MaxPartSize)))
	}
	if o.PartConcurrency < 1 {
		errs = append(errs, fmt.Errorf("part concurrency %d: want at least 1", o.PartConcurrency))
	}
	if o.MaxSinglePut < 0 || o.MaxSinglePut > maxSinglePutSize {
		errs = append(errs, fmt.Errorf("max single put %d: want 1 to %d bytes", o.MaxSinglePut, int64(maxSinglePutSize)))
	}
	if o.ResponseTimeout <= 0 {
		errs = append(errs, errors.New("response timeout is required"))
	}
	if o.UploadBudget == nil {
		errs = append(errs, errors.New("upload budget is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("s3 bucket %q: %w", o.Bucket, err)
	}
	return nil
}

// Close releases the backend's idle connections. The backend must not be used afterwards.
func (s *S3) Close() error {
	s.tr.closeIdle()
	if s.fast != nil {
		s.fast.close()
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

// readRetry bounds the attempts of GET, HEAD and LIST (see ReadAttempts).
func readRetry(o *s3.Options) { o.RetryMaxAttempts = ReadAttempts }

// noRetry makes one attempt only: a streamed body cannot be rewound for a second one.
func noRetry(o *s3.Options) { o.RetryMaxAttempts = 1 }

// sleepCtx waits d, or less when ctx ends first (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// httpStatusOK is what a successful object read answers.
func httpStatusOK(status int) bool {
	return status == http.StatusOK || status == http.StatusPartialContent
}
