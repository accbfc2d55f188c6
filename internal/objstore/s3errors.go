package objstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/assetgateway/assetgateway/internal/byterange"
)

// fault is what a store answered when it refused a request.
type fault struct {
	Code   string      // S3's error code ("NoSuchKey"); "" when the answer had none (HEAD)
	Status int         // the HTTP status; 0 when no answer arrived
	Header http.Header // the answer's headers; nil when unknown
}

// faultOf reads what the store answered from a failure of the SDK path (smithy's API and
// response errors) or of the fast path (*fastError, which presents itself the same way).
func faultOf(err error) fault {
	var f fault
	var ae smithy.APIError
	if errors.As(err, &ae) {
		f.Code = ae.ErrorCode()
	}
	var sc interface{ HTTPStatusCode() int }
	if errors.As(err, &sc) {
		f.Status = sc.HTTPStatusCode()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		f.Header = re.Response.Header
	}
	var fe *fastError
	if errors.As(err, &fe) {
		f.Header = fe.header
	}
	return f
}

// translate maps a store failure onto the Backend errors — once, here, for every operation
// and both read paths: a missing key is ErrObjectNotFound, an unsatisfiable range a
// *RangeError with the object's size, a content that does not match its declared digest
// ErrChecksumMismatch, an object in place where none may be ErrPreconditionFailed, a
// multipart upload that is gone ErrUploadNotFound, parts a completion refuses
// ErrInvalidParts; anything else stays an upstream error that still wraps the store's (so
// context errors remain visible to errors.Is).
//
// S3-compatible stores do not all send typed errors, so codes and HTTP statuses count too.
// A missing bucket is not a missing object: GET says NoSuchBucket. HEAD has no error body,
// so there a missing bucket also reads as a missing object (Check tells them apart).
func (s *S3) translate(ctx context.Context, op, key string, err error) error {
	f := faultOf(err)
	var known error
	switch {
	case f.Code == "NoSuchBucket":
	case f.Code == "NoSuchUpload":
		known = ErrUploadNotFound
	case f.Code == "EntityTooSmall", f.Code == "InvalidPart", f.Code == "InvalidPartOrder":
		known = ErrInvalidParts
	case f.Code == "NoSuchKey", f.Code == "NotFound", f.Status == http.StatusNotFound:
		known = ErrObjectNotFound
	case f.Code == "InvalidRange", f.Status == http.StatusRequestedRangeNotSatisfiable:
		known = &RangeError{Size: s.sizeAfter416(ctx, key, f)}
	case f.Code == "BadDigest", f.Code == "XAmzContentChecksumMismatch", f.Code == "InvalidDigest":
		known = ErrChecksumMismatch
	case f.Code == "PreconditionFailed", f.Code == "ConditionalRequestConflict", f.Status == http.StatusPreconditionFailed:
		known = ErrPreconditionFailed
	}
	if known != nil {
		return fmt.Errorf("s3 %s %q: %w (%w)", op, key, known, err)
	}
	return fmt.Errorf("s3 %s %q: %w", op, key, err)
}

// sizeAfter416 finds the object's size for a 416: from the answer's "Content-Range: bytes
// */size" when the store sent one, else with one HEAD; -1 when neither tells.
func (s *S3) sizeAfter416(ctx context.Context, key string, f fault) int64 {
	if c, ok := byterange.ParseContent(f.Header.Get("Content-Range")); ok && c.Size >= 0 {
		return c.Size
	}
	info, err := s.head(ctx, key)
	if err != nil {
		return -1
	}
	return info.Size
}

// skewed reports whether the store refused a request for its signing time: the SDK path
// corrects its clock from the answer's Date and tries again.
func skewed(err error) bool {
	switch faultOf(err).Code {
	case "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture":
		return true
	}
	return false
}

// ignoreNoSuchUpload drops the error of an abort whose upload is already gone.
func ignoreNoSuchUpload(err error) error {
	if err != nil && faultOf(err).Code == "NoSuchUpload" {
		return nil
	}
	return err
}
