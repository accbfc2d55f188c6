package objstore

import (
	"context"
	"errors"
	"io"
)

// Multipart is a Backend's multipart-upload API: an object assembled from numbered parts
// sent in any order, over any number of requests and processes, that appears whole when
// completed and never before. S3 and File implement it and pass the same contract section
// (multipart_contract_test.go).
//
// Errors: ErrUploadNotFound when the upload is not (or no longer) open — completed, aborted
// or never created; ErrInvalidParts when CompleteMultipart is given parts the store refuses
// (a part that is missing or has another ETag, numbers out of order, a part other than the
// last smaller than MinPartSize); ErrPreconditionFailed when CompleteOptions.IfNoneMatch
// finds an object in place.
type Multipart interface {
	// CreateMultipart opens an upload of key and returns its id. Nothing is visible at key.
	CreateMultipart(ctx context.Context, key string, o MultipartOptions) (uploadID string, err error)
	// UploadPart stores exactly size bytes of body as part number (1 to MaxParts), replacing
	// a part stored before under that number. When body fails or ends early the call fails
	// (wrapping body's error, or io.ErrUnexpectedEOF) and nothing is stored for that part: a
	// part stored before under that number stays. body may be unseekable; it is never
	// buffered whole.
	UploadPart(ctx context.Context, key, uploadID string, number int32, body io.Reader, size int64) (Part, error)
	// ListParts returns every part stored so far, by number (all pages).
	ListParts(ctx context.Context, key, uploadID string) ([]Part, error)
	// CompleteMultipart assembles parts, in the order given (ascending numbers, each with the
	// ETag UploadPart returned), into the object: it appears whole, or not at all, and the
	// upload is closed. On failure the upload stays open (abort it to discard the parts).
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part, o CompleteOptions) (PutResult, error)
	// AbortMultipart discards the upload and its parts. An upload already gone is not an
	// error.
	AbortMultipart(ctx context.Context, key, uploadID string) error
}

// Part is one stored part of a multipart upload.
type Part struct {
	// Number is the part number, 1 to MaxParts.
	Number int32
	// ETag is the part's entity tag, without quotes (the MD5 hex of its bytes on S3 and File).
	ETag string
	// Size is the part's length in bytes.
	Size int64
}

// MultipartOptions describe the object a multipart upload will create.
type MultipartOptions struct {
	// ContentType is stored with the object; "" stores application/octet-stream.
	ContentType string
	// Metadata is user metadata stored with the object (S3: x-amz-meta-*).
	Metadata map[string]string
}

// CompleteOptions qualify CompleteMultipart.
type CompleteOptions struct {
	// IfNoneMatch makes completion fail with ErrPreconditionFailed, creating nothing, when an
	// object already exists under the key.
	IfNoneMatch bool
}

// ErrInvalidParts means CompleteMultipart was given parts the store refuses: one that was
// never stored or whose ETag differs, numbers not in ascending order, or a part other than
// the last smaller than MinPartSize (S3's InvalidPart, InvalidPartOrder, EntityTooSmall).
var ErrInvalidParts = errors.New("invalid multipart parts")

// AsMultipart finds the Multipart behind b, looking through wrappers (metrics) that expose
// the backend they wrap with Unwrap.
func AsMultipart(b Backend) (Multipart, bool) {
	for {
		if m, ok := b.(Multipart); ok {
			return m, true
		}
		u, ok := b.(interface{ Unwrap() Backend })
		if !ok {
			return nil, false
		}
		b = u.Unwrap()
	}
}
