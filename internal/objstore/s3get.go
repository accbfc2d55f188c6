package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/assetgateway/assetgateway/internal/byterange"
)

// Get implements Backend. The body streams straight from the store's response.
func (s *S3) Get(ctx context.Context, key string, o GetOptions) (*Object, error) {
	rng := byterange.Valid(o.Range)
	if !o.Conditions.IsZero() {
		// A conditional GET is usually a revalidation that ends in 304: settle it with a
		// HEAD rather than opening a body only to abandon it.
		if _, err := s.Head(ctx, key, o.Conditions); err != nil {
			return nil, err
		}
	}
	obj, err := s.get(ctx, key, rng)
	if err != nil {
		return nil, s.translate(ctx, "get", key, err)
	}
	if err := o.Conditions.Evaluate(obj.ObjectInfo); err != nil { // the object may have changed since
		obj.Body.Close()
		return nil, fmt.Errorf("s3 get %q: %w", key, err)
	}
	return obj, nil
}

// get runs one GetObject: on the fast path when there is one, else (or when the store
// refused the fast path's clock) through the SDK.
func (s *S3) get(ctx context.Context, key string, rng *byterange.Range) (*Object, error) {
	if s.fast != nil {
		obj, err := s.fast.get(ctx, key, rng)
		if err == nil || !skewed(err) {
			return obj, err
		}
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if rng != nil {
		in.Range = aws.String(rng.HeaderValue())
	}
	out, err := s.api.GetObject(ctx, in, readRetry)
	if err != nil {
		return nil, err
	}
	obj, err := openObject(answer{
		length:       lengthOf(out.ContentLength),
		contentType:  aws.ToString(out.ContentType),
		etag:         aws.ToString(out.ETag),
		lastModified: aws.ToTime(out.LastModified),
		contentRange: aws.ToString(out.ContentRange),
		body:         out.Body,
	}, rng)
	if err != nil {
		out.Body.Close()
		return nil, err
	}
	return obj, nil
}

// answer is a store's 200 or 206 to a GET, from either path.
type answer struct {
	length       int64 // Content-Length; -1 when absent
	contentType  string
	etag         string // as sent, quoted
	lastModified time.Time
	contentRange string
	body         io.ReadCloser
}

// openObject turns a GET's answer into an Object. A store that ignored the Range (200 with
// the whole object) is brought in line with Range.Resolve, so that every backend answers a
// range the same way.
func openObject(a answer, rng *byterange.Range) (*Object, error) {
	if a.length < 0 {
		return nil, errors.New("response has no Content-Length")
	}
	obj := &Object{
		ObjectInfo: ObjectInfo{Size: a.length, ContentType: a.contentType, ETag: unquoteETag(a.etag), LastModified: a.lastModified},
		Body:       a.body,
		Length:     a.length,
	}
	if a.contentRange != "" {
		cr, ok := byterange.ParseContent(a.contentRange)
		if !ok || cr.First < 0 || cr.Size < 0 || cr.Last-cr.First+1 != a.length {
			// Some stores answer an unsatisfiable range with a malformed 206 (MinIO says
			// "bytes 0--1/0" for the last byte of an empty object): judge the range against
			// the size the answer names.
			if size, known := byterange.SizeOf(a.contentRange); known && rng != nil {
				if _, _, fits := rng.Resolve(size); !fits {
					return nil, &RangeError{Size: size}
				}
			}
			return nil, fmt.Errorf("response Content-Range %q does not match Content-Length %d", a.contentRange, a.length)
		}
		obj.Size, obj.Start, obj.Partial = cr.Size, cr.First, true
		return obj, nil
	}
	if rng == nil {
		return obj, nil
	}
	// The store sent the whole object although a range was asked for.
	start, n, ok := rng.Resolve(a.length)
	if !ok {
		return nil, &RangeError{Size: a.length}
	}
	if start > 0 {
		if _, err := io.CopyN(io.Discard, a.body, start); err != nil {
			return nil, fmt.Errorf("skip to range start: %w", err)
		}
	}
	obj.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(a.body, n), a.body}
	obj.Start, obj.Length, obj.Partial = start, n, true
	return obj, nil
}

// Head implements Backend. Preconditions are evaluated here, not by the store: S3-compatible
// stores disagree on entity-tag lists, weak tags and dates (MinIO and versitygw each ignore
// some), and a gateway answers the same way whatever is behind it.
func (s *S3) Head(ctx context.Context, key string, c Conditions) (ObjectInfo, error) {
	info, err := s.head(ctx, key)
	if err != nil {
		return ObjectInfo{}, s.translate(ctx, "head", key, err)
	}
	if err := c.Evaluate(info); err != nil {
		return ObjectInfo{}, fmt.Errorf("s3 head %q: %w", key, err)
	}
	return info, nil
}

// head runs one HeadObject, on the fast path when there is one.
func (s *S3) head(ctx context.Context, key string) (ObjectInfo, error) {
	if s.fast != nil {
		info, err := s.fast.head(ctx, key)
		if err == nil || !skewed(err) {
			return info, err
		}
	}
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key}, readRetry)
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{
		Size:         aws.ToInt64(out.ContentLength),
		ContentType:  aws.ToString(out.ContentType),
		ETag:         unquoteETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified),
	}, nil
}

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
		return ListPage{}, s.translate(ctx, "list", prefix, err)
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

// lengthOf is a Content-Length the SDK decoded, or -1 when the answer had none.
func lengthOf(n *int64) int64 {
	if n == nil {
		return -1
	}
	return *n
}

func unquoteETag(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
