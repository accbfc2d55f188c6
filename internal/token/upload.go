package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"
)

// Upload is an upload session bound to a token: an object sent over many requests (tus,
// Uppy's multipart endpoints, an S3 listener), possibly through different gateway replicas.
// Its record lives beside its token's (the same Redis hash tag), is found only through the
// token's ID, and belongs to the token generation whose Grant created it: a token deleted
// and minted again under the same string never sees the old uploads.
type Upload struct {
	// ID is the upload's identifier, 22 URL-safe characters (NewUploadID); unique per token.
	ID string
	// Kind names the owner ("tus", "uppy", "s3"): the janitor hands an expired upload to the
	// owner of its kind.
	Kind string
	// Bucket and Key are the bucket alias and the object key the upload will create.
	Bucket, Key string
	// StoreID is the object store's multipart upload id; "" until one exists.
	StoreID string
	// Length is the object's length in bytes; -1 while the client has not said (deferred).
	Length int64
	// Offset is how many bytes are durably stored: in parts, and pending.
	Offset int64
	// Parts is how many parts are completed in the store.
	Parts int32
	// Pending is how many bytes are held outside the parts (e.g. tus's incomplete part
	// object).
	Pending int64
	// State is owner-defined opaque state (e.g. a marshalled running digest); nil for none.
	State []byte
	// Meta is owner-defined metadata; nil for none.
	Meta map[string]string
	// ExpiresAt is when the janitor ends the upload (Unix milliseconds).
	ExpiresAt int64
	// Hit is true while the upload holds the hit its creation consumed: DeleteUpload hands it
	// back to the token. An owner clears it when the hit is spent (the object was created).
	Hit bool
	// Version is bumped by every update; UpdateUpload is a compare-and-set on it. It is 1
	// once created.
	Version int64
}

// Due is an upload the janitor must end: expired, or its token deleted. ExpiredUploads
// hands it out locked by Holder, so only one replica handles it.
type Due struct {
	TokenID string
	Upload  Upload
	// Holder holds the upload's lock: UnlockUpload with it when the upload cannot be ended
	// now (DeleteUpload drops the lock too).
	Holder string
}

// Uploads are the upload sessions a Store keeps beside its tokens. Every method takes the
// token's ID (ID(token)), never the token itself.
type Uploads interface {
	// CreateUpload files u under the token of g, bound to g's generation, and returns it
	// with Version 1 (and a new ID when u.ID is ""). ErrNotFound when that token generation
	// is gone; ErrExists when the token already has an upload with u.ID.
	CreateUpload(ctx context.Context, g *Grant, u Upload) (Upload, error)
	// Upload returns the upload and a Grant of its token as the token stands now (it consumed
	// nothing: Refund does nothing, MarkUploaded marks the token). ErrNotFound when the token
	// is gone; ErrUploadNotFound (which also matches ErrNotFound) when the upload is, or
	// belongs to a generation of the token deleted since.
	Upload(ctx context.Context, tokenID, id string) (Upload, *Grant, error)
	// UpdateUpload stores u's fields (all but ID, Kind, Bucket and Key) if the stored
	// Version is still u.Version, and returns u with its new Version. ErrConflict when the
	// upload changed meanwhile; ErrNotFound and ErrUploadNotFound as Upload.
	UpdateUpload(ctx context.Context, tokenID string, u Upload) (Upload, error)
	// DeleteUpload removes the upload and its lock. When the upload still held its hit
	// (Hit), the hit is handed back to the token — once, and only to the generation that
	// created the upload. ErrUploadNotFound when there is no such upload.
	DeleteUpload(ctx context.Context, tokenID, id string) error
	// LockUpload takes the upload's lock for holder, for ttl, or renews it when holder has
	// it already; false when another holder has it. ErrUploadNotFound when there is no such
	// upload. The lock lets one writer at a time change an upload; its lease frees it when
	// a writer dies.
	LockUpload(ctx context.Context, tokenID, id, holder string, ttl time.Duration) (bool, error)
	// UnlockUpload releases the lock if holder has it.
	UnlockUpload(ctx context.Context, tokenID, id, holder string) error
	// ExpiredUploads returns up to limit uploads due at now — past their ExpiresAt, or whose
	// token (generation) is gone — each claimed and locked for the caller for UploadClaim, so
	// that replicas asking at once get different ones. An upload whose lock another holder
	// has is left for a call a few seconds later.
	ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]Due, error)
}

// UploadClaim is how long an upload handed out by ExpiredUploads stays claimed (and locked)
// for the caller: if it neither deletes nor unlocks it by then, another call can have it.
const UploadClaim = 2 * time.Minute

// uploadBusyRetry is when ExpiredUploads looks again at a due upload that a writer holds.
const uploadBusyRetry = 5 * time.Second

// uploadGrace keeps an upload's record at least this long past its ExpiresAt, whatever the
// token's retention, so that the janitor still finds what to clean up.
const uploadGrace = time.Hour

// ErrConflict means an UpdateUpload lost the race: the upload changed since it was read.
var ErrConflict = errors.New("upload changed meanwhile")

// ErrUploadNotFound means the upload does not exist (any more), or belongs to a generation of
// its token that was deleted. It matches ErrNotFound too.
var ErrUploadNotFound error = uploadNotFound{}

type uploadNotFound struct{}

func (uploadNotFound) Error() string        { return "upload not found" }
func (uploadNotFound) Is(target error) bool { return target == ErrNotFound }

// NewUploadID returns a new random upload id: 128 bits, 22 URL-safe characters.
func NewUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidUploadID reports whether s could be an upload id (22 characters of A-Za-z0-9_-). A
// string that is not is treated as an unknown upload.
func ValidUploadID(s string) bool {
	if len(s) != 22 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// dueMember names an upload in the expiry index.
func dueMember(tokenID, id string) string { return tokenID + "/" + id }

// uploadDeadline is when an upload's record vanishes (Unix ms): with its token's record, and
// never before uploadGrace past its own expiry.
func uploadDeadline(tokenExpireAt int64, retention time.Duration, expiresAt int64) int64 {
	return max(time.Unix(tokenExpireAt, 0).Add(retention).UnixMilli(), expiresAt+uploadGrace.Milliseconds())
}
