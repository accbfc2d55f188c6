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
