package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/internal/byterange"
)

// Backend is what /object needs from one bucket alias. Implementations: S3 (any S3 API, via
// aws-sdk-go-v2) and File (a local directory). Both pass the same contract suite
// (contract_test.go).
//
// Errors: ErrObjectNotFound when the key does not exist; a *RangeError (which matches
// ErrRangeNotSatisfiable) when a range starts past the end; a *NotModifiedError (matching
// ErrNotModified) or ErrPreconditionFailed when a precondition says so; anything else is an
// upstream failure. Implementations never return a partially written object: Put either makes the
// whole object visible at once or leaves the previous state untouched.
type Backend interface {
	// Get opens the object, or the part of it selected by o.Range (nil: the whole object),
	// if o's preconditions hold. The caller must close Object.Body. Body yields exactly
	// Object.Length bytes, starting at Object.Start.
	Get(ctx context.Context, key string, o GetOptions) (*Object, error)
	// Head returns the object's metadata, if c holds.
	Head(ctx context.Context, key string, c Conditions) (ObjectInfo, error)
	// Put stores Body under Key. When Body returns an error, Put fails with an error that wraps
	// it and stores nothing. Size is Body's exact length when known, -1 when it is not.
	Put(ctx context.Context, in PutInput) (PutResult, error)
	// Delete removes the object. Like S3's DeleteObject it succeeds whether or not the key
	// existed.
	Delete(ctx context.Context, key string) error
	// List returns up to limit objects whose keys start with prefix and sort (bytewise) after
	// prefix+after, in key order, and whether more follow.
	List(ctx context.Context, prefix, after string, limit int) (ListPage, error)
}

// Presigner is a Backend that can hand out short-lived presigned URLs of its store
// (redirect delivery). S3 implements it; a local directory cannot.
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration, o ResponseOverrides) (string, error)
	// PresignPut returns the URL and the headers the client must send with it (they are
	// part of the signature: Content-Length, Content-Type).
	PresignPut(ctx context.Context, key string, ttl time.Duration, size int64, contentType string) (string, http.Header, error)
}

// ResponseOverrides are headers a presigned GET's answer carries instead of the stored ones.
type ResponseOverrides struct {
	ContentType, ContentDisposition, CacheControl string
}

// AsPresigner finds the Presigner behind b, looking through wrappers (metrics) that expose
// the backend they wrap with Unwrap.
func AsPresigner(b Backend) (Presigner, bool) {
	for {
		if p, ok := b.(Presigner); ok {
			return p, true
		}
		u, ok := b.(interface{ Unwrap() Backend })
		if !ok {
			return nil, false
		}
		b = u.Unwrap()
	}
}

// CanPresign reports whether b can hand out presigned URLs (redirect delivery).
func CanPresign(b Backend) bool {
	_, ok := AsPresigner(b)
	return ok
}

// ListPage is one page of a listing.
type ListPage struct {
	Entries []ListEntry
	// Truncated is true when more keys follow the last entry.
	Truncated bool
}

// ListEntry is one object of a listing.
type ListEntry struct {
	// Key is the whole object key.
	Key  string
	Size int64
	// ETag is the entity tag without quotes; "" when the store did not say.
	ETag         string
	LastModified time.Time
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
	// SHA256, when set (32 bytes), is the digest the content must have: on a mismatch Put
	// fails with ErrChecksumMismatch and stores nothing.
	SHA256 []byte
	// Metadata is user metadata stored with the object (S3: x-amz-meta-*).
	Metadata map[string]string
	// IfNoneMatch makes Put fail with ErrPreconditionFailed, storing nothing, when an object
	// already exists under Key.
	IfNoneMatch bool
}

// PutResult is what a successful upload produced.
type PutResult struct {
	// ETag without quotes.
	ETag string
	// Size is the number of bytes stored.
	Size int64
}

// GetOptions qualifies a Get.
type GetOptions struct {
	// Range selects part of the object; nil: all of it.
	Range *byterange.Range
	Conditions
}

// Conditions are a request's preconditions (RFC 9110 §13.1), evaluated by the store against
// the object's current ETag and Last-Modified. Zero values mean "absent".
type Conditions struct {
	// IfMatch and IfNoneMatch are the raw header values: "*" or a list of entity tags.
	IfMatch, IfNoneMatch string
	// IfModifiedSince and IfUnmodifiedSince are the parsed HTTP dates.
	IfModifiedSince, IfUnmodifiedSince time.Time
}

// Evaluate applies the conditions to info in RFC 9110's order: If-Match, else
// If-Unmodified-Since (a failure is ErrPreconditionFailed); then If-None-Match, else
// If-Modified-Since (a match is a *NotModifiedError). Dates compare at one-second precision,
// as HTTP dates carry.
func (c Conditions) Evaluate(info ObjectInfo) error {
	modified := info.LastModified.Truncate(time.Second)
	switch {
	case c.IfMatch != "":
		if !matchETag(c.IfMatch, info.ETag, false) {
			return ErrPreconditionFailed
		}
	case !c.IfUnmodifiedSince.IsZero() && !info.LastModified.IsZero():
		if modified.After(c.IfUnmodifiedSince) {
			return ErrPreconditionFailed
		}
	}
	switch {
	case c.IfNoneMatch != "":
		if matchETag(c.IfNoneMatch, info.ETag, true) {
			return &NotModifiedError{Info: info}
		}
	case !c.IfModifiedSince.IsZero() && !info.LastModified.IsZero():
		if !modified.After(c.IfModifiedSince) {
			return &NotModifiedError{Info: info}
		}
	}
	return nil
}

// IsZero reports whether no condition is set.
func (c Conditions) IsZero() bool { return c == Conditions{} }

// matchETag reports whether the header value list ("*", or entity tags, possibly W/-weak)
// names etag (unquoted). Weak comparison ignores W/; strong comparison never matches a weak tag.
func matchETag(list, etag string, weak bool) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		isWeak := strings.HasPrefix(t, "W/")
		if isWeak {
			if !weak {
				continue
			}
			t = t[2:]
		}
		if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' && t[1:len(t)-1] == etag && etag != "" {
			return true
		}
	}
	return false
}

var (
	// ErrObjectNotFound means the key does not exist in the bucket.
	ErrObjectNotFound = errors.New("object not found")
	// ErrRangeNotSatisfiable means the requested range starts past the object's end.
	ErrRangeNotSatisfiable = errors.New("range not satisfiable")
)

// ErrNotModified matches a *NotModifiedError: the object matches If-None-Match or was not
// modified since If-Modified-Since (304).
var ErrNotModified = errors.New("not modified")

// ErrPreconditionFailed means If-Match or If-Unmodified-Since does not hold, or an upload
// that must not overwrite found an object in place (412).
var ErrPreconditionFailed = errors.New("precondition failed")

// ErrChecksumMismatch means an upload's content does not have the SHA-256 its token expects.
var ErrChecksumMismatch = errors.New("content does not match the expected SHA-256")

// ErrUploadNotFound means a multipart upload does not exist (any more): it was completed or
// aborted.
var ErrUploadNotFound = errors.New("multipart upload not found")

// ErrBodyCut marks the failure of an object body's source — the store cut the download
// short — as opposed to its destination. An Object's Body returns only source failures from
// Read; from WriteTo, the errors of the source wrap ErrBodyCut and any other is the
// destination's (the writer's).
var ErrBodyCut = errors.New("object store cut the body short")

// NotModifiedError is a 304 with the validators the response should carry.
type NotModifiedError struct {
	// Info holds what the store said of the object; fields may be zero when it said nothing.
	Info ObjectInfo
}

func (e *NotModifiedError) Error() string { return "not modified" }

// Is makes errors.Is(err, ErrNotModified) true.
func (e *NotModifiedError) Is(target error) bool { return target == ErrNotModified }

// RangeError reports an unsatisfiable range together with the object's size (for the
// `Content-Range: bytes */size` header of a 416). Size is -1 when the backend could not tell.
type RangeError struct {
	Size int64
}

func (e *RangeError) Error() string { return fmt.Sprintf("range not satisfiable (size %d)", e.Size) }

// Is makes errors.Is(err, ErrRangeNotSatisfiable) true.
func (e *RangeError) Is(target error) bool { return target == ErrRangeNotSatisfiable }
