package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Backend is what /object needs from one bucket alias. Implementations: S3 (any S3 API, via
// aws-sdk-go-v2) and File (a local directory). Both pass the same contract suite
// (backend_contract_test.go).
//
// Errors: ErrObjectNotFound when the key does not exist; a *RangeError (which matches
// ErrRangeNotSatisfiable) when a range starts past the end; anything else is an upstream
// failure. Implementations never return a partially written object: Put either makes the
// whole object visible at once or leaves the previous state untouched.
type Backend interface {
	// Get opens the object, or the part of it selected by rng (nil: the whole object). The
	// caller must close Object.Body. Body yields exactly Object.Length bytes, starting at
	// Object.Start.
	Get(ctx context.Context, key string, rng *Range) (*Object, error)
	// Head returns the object's metadata.
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// Put stores Body under Key. When Body returns an error, Put fails with an error that wraps
	// it and stores nothing. Size is Body's exact length when known, -1 when it is not.
	Put(ctx context.Context, in PutInput) (PutResult, error)
}

// ObjectInfo is an object's metadata.
type ObjectInfo struct {
	// Size is the whole object's length in bytes.
	Size int64
	// ContentType is the stored media type; "" when the store has none.
	ContentType string
	// ETag is the entity tag without quotes (the MD5 hex of the content for single-part
	// uploads).
	ETag string
	// LastModified is when the object was last written; zero when unknown.
	LastModified time.Time
}

// Object is an open object body with its metadata.
type Object struct {
	ObjectInfo
	// Body yields the selected bytes. Closing it releases the connection or file.
	Body io.ReadCloser
	// Start is the offset of Body's first byte in the object.
	Start int64
	// Length is the number of bytes Body yields.
	Length int64
	// Partial is true when a range was applied (the response is a 206).
	Partial bool
}

// PutInput describes one upload.
type PutInput struct {
	Key string
	// Body is the content. It may be unseekable (an HTTP request body).
	Body io.Reader
	// Size is Body's exact length, or -1 when unknown (a chunked request).
	Size int64
	// ContentType is stored with the object; "" stores application/octet-stream.
	ContentType string
}

// PutResult is what a successful upload produced.
type PutResult struct {
	// ETag without quotes.
	ETag string
	// Size is the number of bytes stored.
	Size int64
}

// Range is one byte range as the client asked for it (RFC 9110 §14.1.2), before it is
// resolved against an object's size.
//
//	bytes=10-19  → {First: 10, Last: 19}
//	bytes=10-    → {First: 10, Last: -1}
//	bytes=-500   → {First: -1, Last: 500}   (the final 500 bytes)
type Range struct {
	First int64
	Last  int64
}

// HeaderValue formats r as a Range header value ("bytes=10-19").
func (r Range) HeaderValue() string {
	switch {
	case r.First < 0:
		return fmt.Sprintf("bytes=-%d", r.Last)
	case r.Last < 0:
		return fmt.Sprintf("bytes=%d-", r.First)
	default:
		return fmt.Sprintf("bytes=%d-%d", r.First, r.Last)
	}
}

// Resolve returns the offset and length r selects in an object of the given size, or ok=false
// when r is unsatisfiable (it starts at or past the end, or is an empty suffix).
func (r Range) Resolve(size int64) (start, length int64, ok bool) {
	if r.First < 0 { // suffix
		if r.Last <= 0 || size == 0 {
			return 0, 0, false
		}
		n := min(r.Last, size)
		return size - n, n, true
	}
	if r.First >= size {
		return 0, 0, false
	}
	end := size - 1
	if r.Last >= 0 && r.Last < end {
		end = r.Last
	}
	return r.First, end - r.First + 1, true
}

var (
	// ErrObjectNotFound means the key does not exist in the bucket.
	ErrObjectNotFound = errors.New("object not found")
	// ErrRangeNotSatisfiable means the requested range starts past the object's end.
	ErrRangeNotSatisfiable = errors.New("range not satisfiable")
)

// RangeError reports an unsatisfiable range together with the object's size (for the
// `Content-Range: bytes */size` header of a 416). Size is -1 when the backend could not tell.
type RangeError struct {
	Size int64
}

func (e *RangeError) Error() string { return fmt.Sprintf("range not satisfiable (size %d)", e.Size) }

// Is makes errors.Is(err, ErrRangeNotSatisfiable) true.
func (e *RangeError) Is(target error) bool { return target == ErrRangeNotSatisfiable }

// CheckKey reports whether the directory can hold key (it accepts fewer keys than S3: no
// "..", no empty segments, no reserved metadata folder). The control API calls it at mint time.
func (f *File) CheckKey(key string) error { return ValidFileKey(key) }
