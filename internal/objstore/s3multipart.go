package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The S3 backend's Multipart: the SDK's multipart calls, sent the way Put sends its parts
// (UNSIGNED-PAYLOAD, the exact Content-Length, no retry of an unseekable body, no per-part
// checksums to repeat at completion), with errors through the one error map.

// CreateMultipart implements Multipart.
func (s *S3) CreateMultipart(ctx context.Context, key string, o MultipartOptions) (string, error) {
	ct := o.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	mp, err := s.startMultipart(ctx, PutInput{Key: key, ContentType: ct, Metadata: o.Metadata})
	if err != nil {
		return "", s.translate(ctx, "create multipart", key, err)
	}
	return mp.id, nil
}

// UploadPart implements Multipart.
func (s *S3) UploadPart(ctx context.Context, key, uploadID string, number int32, body io.Reader, size int64) (Part, error) {
	if err := checkPart(number, size); err != nil {
		return Part{}, fmt.Errorf("s3 upload part %q: %w", key, err)
	}
	ub := &uploadBody{ctx: ctx, r: body, remaining: size}
	mp := &multipart{s: s, key: key, id: uploadID}
	etag, err := mp.sendPart(ctx, number, ub, size, false)
	if err != nil {
		return Part{}, putError(ub, s.translate(ctx, "upload part", key, err))
	}
	return Part{Number: number, ETag: unquoteETag(aws.ToString(etag)), Size: size}, nil
}

// checkPart refuses a part number or size no store accepts.
func checkPart(number int32, size int64) error {
	if number < 1 || number > MaxParts {
		return fmt.Errorf("part number %d: want 1 to %d", number, MaxParts)
	}
	if size < 0 || size > MaxPartSize {
		return fmt.Errorf("part size %d: want 0 to %d bytes", size, int64(MaxPartSize))
	}
	return nil
}

// ListParts implements Multipart.
func (s *S3) ListParts(ctx context.Context, key, uploadID string) ([]Part, error) {
	var parts []Part
	var marker *string
	for {
		out, err := s.api.ListParts(ctx, &s3.ListPartsInput{
			Bucket: &s.bucket, Key: &key, UploadId: &uploadID, PartNumberMarker: marker,
		}, readRetry)
		if err != nil {
			return nil, s.translate(ctx, "list parts", key, err)
		}
		for _, p := range out.Parts {
			parts = append(parts, Part{Number: aws.ToInt32(p.PartNumber), ETag: unquoteETag(aws.ToString(p.ETag)), Size: aws.ToInt64(p.Size)})
		}
		next := aws.ToString(out.NextPartNumberMarker)
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if next == "" || next == aws.ToString(marker) {
			return nil, fmt.Errorf("s3 list parts %q: the store says more parts follow but gives no new marker", key)
		}
		marker = &next
	}
	slices.SortFunc(parts, func(a, b Part) int { return int(a.Number) - int(b.Number) })
	return parts, nil
}

// CompleteMultipart implements Multipart. The result's Size is the sum of the parts' sizes.
func (s *S3) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part, o CompleteOptions) (PutResult, error) {
	if len(parts) == 0 {
		return PutResult{}, fmt.Errorf("s3 complete multipart %q: %w: no parts", key, ErrInvalidParts)
	}
	done := make([]types.CompletedPart, len(parts))
	var size int64
	for i, p := range parts {
		// Only the number and ETag (see multipart.uploadPart); ETags quoted, as S3 lists them.
		done[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(`"` + p.ETag + `"`)}
		size += p.Size
	}
	req := &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: &uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	}
	if o.IfNoneMatch {
		req.IfNoneMatch = aws.String("*")
	}
	out, err := s.api.CompleteMultipartUpload(ctx, req)
	if err != nil {
		return PutResult{}, s.translate(ctx, "complete multipart", key, err)
	}
	return PutResult{ETag: unquoteETag(aws.ToString(out.ETag)), Size: size}, nil
}

// AbortMultipart implements Multipart.
func (s *S3) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID})
	if err = ignoreNoSuchUpload(err); err != nil {
		err = s.translate(ctx, "abort multipart", key, err)
		if errors.Is(err, ErrUploadNotFound) || errors.Is(err, ErrObjectNotFound) {
			return nil // gone already (some stores answer a bare 404)
		}
		return err
	}
	return nil
}
