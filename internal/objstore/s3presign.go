package objstore

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

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

// DirectUploader is a Multipart store whose clients can send the bytes to the store
// themselves, with requests the gateway presigns: the parts of a multipart upload, or a whole
// small object as an HTML-form POST. S3 implements it; a local directory cannot. The
// gateway keeps the rest of the upload (create, list, complete, abort) to itself.
type DirectUploader interface {
	Multipart
	// PresignUploadPart returns a URL, valid for ttl, that stores its PUT body as part number
	// (1 to MaxParts) of the upload. Nothing in it binds the body's length or content.
	PresignUploadPart(ctx context.Context, key, uploadID string, number int32, ttl time.Duration) (string, error)
	// PresignPost returns the URL and the form fields of an HTML-form upload (S3's POST
	// policy) of key, valid for ttl, that the store refuses unless it meets p.
	PresignPost(ctx context.Context, key string, ttl time.Duration, p PostPolicy) (url string, fields map[string]string, err error)
}

// PostPolicy is what a presigned form upload must meet; each rule is a condition of the
// signed policy, so the store itself refuses an upload that breaks it.
type PostPolicy struct {
	// MaxSize is the largest body accepted, in bytes (0 to maxSinglePutSize).
	MaxSize int64
	// ContentType is the exact Content-Type the object is stored with; "" stores
	// application/octet-stream.
	ContentType string
	// Metadata is user metadata stored with the object, exactly (x-amz-meta-*).
	Metadata map[string]string
}

// AsDirectUploader finds the DirectUploader behind b, looking through wrappers (metrics)
// that expose the backend they wrap with Unwrap.
func AsDirectUploader(b Backend) (DirectUploader, bool) {
	for {
		if d, ok := b.(DirectUploader); ok {
			return d, true
		}
		u, ok := b.(interface{ Unwrap() Backend })
		if !ok {
			return nil, false
		}
		b = u.Unwrap()
	}
}

// PresignUploadPart implements DirectUploader. The URL signs no header but Host, and no
// checksum: the client's PUT carries its own Content-Length (see the note in docs/uppy.md).
func (s *S3) PresignUploadPart(ctx context.Context, key, uploadID string, number int32, ttl time.Duration) (string, error) {
	if err := checkPart(number, 0); err != nil {
		return "", fmt.Errorf("s3 presign upload part %q: %w", key, err)
	}
	in := &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID, PartNumber: aws.Int32(number)}
	req, err := s.presign.PresignUploadPart(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3 presign upload part %q: %w", key, err)
	}
	return req.URL, nil
}

// PresignPost implements DirectUploader with the SDK's POST-policy presigner: the policy
// names the bucket and the key, and adds a content-length-range of 0 to p.MaxSize and the
// exact Content-Type and metadata, which the returned fields carry.
func (s *S3) PresignPost(ctx context.Context, key string, ttl time.Duration, p PostPolicy) (string, map[string]string, error) {
	if p.MaxSize < 0 || p.MaxSize > maxSinglePutSize {
		return "", nil, fmt.Errorf("s3 presign post %q: max size %d: want 0 to %d bytes", key, p.MaxSize, int64(maxSinglePutSize))
	}
	ct := p.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	extra := map[string]string{"Content-Type": ct}
	for k, v := range p.Metadata {
		extra["x-amz-meta-"+k] = v
	}
	conditions := []any{[]any{"content-length-range", 0, p.MaxSize}}
	for k, v := range extra {
		conditions = append(conditions, map[string]string{k: v})
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key}
	req, err := s.presign.PresignPostObject(ctx, in, func(o *s3.PresignPostOptions) {
		o.Expires = ttl
		o.Conditions = conditions
	})
	if err != nil {
		return "", nil, fmt.Errorf("s3 presign post %q: %w", key, err)
	}
	fields := make(map[string]string, len(req.Values)+len(extra))
	for k, v := range req.Values {
		fields[k] = v
	}
	for k, v := range extra {
		fields[k] = v
	}
	return req.URL, fields, nil
}
