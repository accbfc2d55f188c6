// Package token holds temporary-token records and the stores that keep them.
//
// A token is a bearer secret in an /object URL. Stores never keep the raw token: a record is
// filed under ID(token), the unpadded base64url SHA-256 of the token.
//
// Redis layout (RedisStore), with the configured key prefix P (default "ag:"):
//
//	P{ID}           hash, one per token; expires (PEXPIREAT) at expire_at + retention, so a
//	                record stays readable by the control API for the retention period and then
//	                vanishes without a sweeper. Fields (absent = default):
//	                  b bucket alias   k object key   f filename ("")   m method
//	                  e expire_at (Unix s)   h max_hits (-1)   u used_hits (0)
//	                  s size limit (-1)   c callback URL ("")   g generation (random)
//	                  up "1" once a PUT through the token completed
//	                  hw when a HEAD last fired the webhook (Unix ms)
//	                  s3 the nonce of the token's S3 credentials ("": none)
//	P{ID}u:U        hash, one per upload session U of the token (upload.go). Fields:
//	                  t kind   b bucket alias   k object key   g generation of the token that
//	                  created it   s store upload id   l length (-1: deferred)   o offset
//	                  n parts   p pending bytes   st owner state   md metadata (JSON)
//	                  x expires_at (Unix ms)   h "1" while it holds its hit   v version
//	                It expires (PEXPIREAT) with the token's record, and never before an hour
//	                past x, so the janitor can still clean up after it.
//	P{ID}l:U        string: upload U's lock, its holder, with the lease as TTL
//	P{ID}us         set of the token's upload ids, so that deleting the token makes them due
//	P{uploads}due   sorted set, the expiry index of every upload: member "<ID>/<U>", score the
//	                Unix ms from which it is due (x; 0 once its token is deleted; the end of
//	                the claim while a janitor handles it). A hint: the janitor trusts the
//	                record it points at.
//
// Field names are one letter and defaults are left out: a typical record takes about 240
// bytes of Redis memory, key and expiry included. Uploads add nothing to it: a token without
// uploads has exactly the keys it had before they existed, and accesses never read them.
//
// The {ID} hash tag keeps every key of one token in one Redis Cluster slot, so each script
// touches a single slot. The expiry index has a hash tag of its own and is only ever changed
// by single-key commands.
//
// Access runs one Lua script — one round trip — that checks, in the contract's order, unknown
// (ErrNotFound), expired (ErrExpired), method (ErrMethodNotAllowed), hits (ErrHitsExceeded,
// not for HEAD) and the declared upload size (ErrSizeExceeded), and consumes a hit for GET,
// PUT and DELETE. HEAD never consumes. A record that constrains its clients (ip, a PUT's
// content_types) is first returned unconsumed, judged by the caller, and then accessed with
// the generation it was judged on: a refused client never reserves a hit. A consumed hit can
// be handed back once with Refund when the access failed before anything was delivered; a
// refund writes no key of its own.
package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"sync/atomic"
	"time"
)

// Methods a token can be minted for.
const (
	MethodGet    = "GET"
	MethodHead   = "HEAD"
	MethodPut    = "PUT"
	MethodDelete = "DELETE"
)

// Unlimited is the max_hits and size value meaning "no limit".
const Unlimited = -1

// Record is what a token grants.
type Record struct {
	// Bucket is the bucket alias (never the real bucket name).
	Bucket string
	// Key is the object key.
	Key string
	// Filename, when set, drives Content-Disposition on downloads.
	Filename string
	// Method is GET, HEAD, PUT or DELETE.
	Method string
	// ExpireAt is the Unix time (seconds) from which the token no longer works.
	ExpireAt int64
	// MaxHits is the number of successful GET/PUT/DELETE accesses allowed; Unlimited (-1) for
	// no limit.
	MaxHits int64
	// UsedHits counts hits consumed so far (including accesses still in progress).
	UsedHits int64
	// Size is the upload limit in bytes; Unlimited (-1) for no limit.
	Size int64
	// Callback is the webhook URL; "" for none.
	Callback string
	// Uploaded is true once a PUT through this token has completed.
	Uploaded bool

	// Prefix, when set instead of Key, makes the token serve every key that starts with it:
	// /object/{token}/{rest} names the key Prefix+rest (GET, HEAD), and a LIST token lists them.
	Prefix string
	// Delivery is "" (the bucket alias's default), DeliveryStream — the gateway moves the
	// bytes — or DeliveryRedirect: the gateway answers 307 to a short-lived presigned URL.
	Delivery string
	// ContentTypes, for a PUT token, are the media types an upload may declare ("image/png",
	// or "image/*"); empty: any.
	ContentTypes []string
	// SHA256, for a PUT token, is the expected hex SHA-256 of the upload; "" for none.
	SHA256 string
	// Metadata, for a PUT token, is user metadata stored with the object.
	Metadata map[string]string
	// IfNoneMatch, for a PUT token, forbids overwriting an existing object.
	IfNoneMatch bool
	// IPs are the CIDRs a client must come from; empty: anywhere.
	IPs []string
	// Disposition is "" (attachment) or "inline": how Content-Disposition offers Filename.
	Disposition string
	// CacheControl replaces the Cache-Control header of downloads; "" keeps the default.
	CacheControl string
	// S3, when set, is the nonce of the S3 credentials minted with the token: the S3
	// listener (package s3api) derives them from ID(token) and this nonce, and a request
	// presenting another nonce (credentials of a deleted token minted again under the same
	// string) finds no record. "": the token has no S3 credentials.
	S3 string
}

// Delivery modes.
const (
	DeliveryStream   = "stream"
	DeliveryRedirect = "redirect"
)

// MethodList is the method of a prefix token that lists the keys under its prefix.
const MethodList = "LIST"

// Allows reports whether a request with the given method may use a token minted for
// r.Method: a GET token serves GET and HEAD, a PUT token PUT and HEAD, a DELETE token DELETE
// and HEAD, a LIST token GET (the listing) and HEAD, a HEAD token HEAD.
func (r *Record) Allows(method string) bool {
	return method == MethodHead || method == r.Method || method == MethodGet && r.Method == MethodList
}

// Errors returned by every Store. Anything else a store returns wraps ErrUnavailable (the
// store could not be reached or failed) or is the caller's context error.
var (
	ErrNotFound         = errors.New("token not found")
	ErrExpired          = errors.New("token expired")
	ErrMethodNotAllowed = errors.New("method not allowed for this token")
	ErrHitsExceeded     = errors.New("no hits left")
	ErrSizeExceeded     = errors.New("upload larger than the token allows")
	ErrExists           = errors.New("token already exists")
	ErrUnavailable      = errors.New("token store unavailable")
)

// Store keeps token records. Every implementation passes the contract suite in
// token/storetest.
type Store interface {
	// Create files rec under token, or fails with ErrExists when the token is taken. The
	// record stays readable until rec.ExpireAt plus the store's retention.
	Create(ctx context.Context, token string, rec Record) error
	// CreateMany files every item as Create would, in one round trip where the store can. It
	// returns one result per item (nil, or ErrExists for a token that was taken), or an
	// error when the store failed as a whole.
	CreateMany(ctx context.Context, items []Item) ([]error, error)
	// Get returns the record, expired or not, until it vanishes after retention.
	Get(ctx context.Context, token string) (Record, error)
	// Delete removes the record at once; ErrNotFound when there is none.
	Delete(ctx context.Context, token string) error
	// Access checks a request against the record and, for GET, PUT and DELETE, consumes a
	// hit — all atomically.
	Access(ctx context.Context, token string, req Request) (*Grant, error)
	// GetID and AccessID are Get and Access for the record filed under id (ID(token)), for
	// callers that hold credentials derived from a token rather than the token itself (the
	// S3 listener).
	GetID(ctx context.Context, id string) (Record, error)
	AccessID(ctx context.Context, id string, req Request) (*Grant, error)
	// Refund hands back the hit a Grant consumed. It applies at most once per Grant, and
	// never to a record deleted and re-created in the meantime.
	Refund(ctx context.Context, g *Grant) error
	// MarkUploaded records that the PUT a Grant allowed has completed.
	MarkUploaded(ctx context.Context, g *Grant) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error

	// Uploads are the upload sessions kept beside the tokens (upload.go). Delete makes a
	// token's uploads due at once, so that the janitor ends them.
	Uploads
}

// Request is one access to check against a token's record.
type Request struct {
	// Method is the request's method (GET, HEAD, PUT, DELETE).
	Method string
	// ContentLength is a PUT body's declared length, or -1 when unknown.
	ContentLength int64
	// Admit, when set, judges the client against a record that constrains its clients (ip,
	// or content_types for a PUT) before anything else is checked or consumed: its error is
	// returned as is, and then the client learns nothing of the token's state and no hit is
	// reserved. It is given a copy of the record; it must not block. RedisStore asks it only
	// for records that have such constraints, at the cost of a second round trip for them;
	// it may be asked for any record.
	Admit func(*Record) error
	// S3, when set, is the credential nonce an S3 request presents: a record whose S3 nonce
	// differs (or that has none) is ErrNotFound, before anything else is checked or consumed.
	S3 string
}

// HeadNotifyInterval is how often at most a HEAD fires a token's webhook: HEAD costs no hit,
// so without a bound a token holder could turn HEADs into unlimited webhooks.
const HeadNotifyInterval = time.Minute

// Grant is a successful Access: the record as it stood, and the hit it consumed.
type Grant struct {
	// Record is the token's record; UsedHits includes the hit this access consumed.
	Record Record
	// Consumed is true when the access used up a hit (GET, PUT, DELETE).
	Consumed bool
	// Notify is true when the access should fire the token's webhook: always for GET, PUT
	// and DELETE; for a HEAD, at most once per HeadNotifyInterval per token (all replicas).
	Notify bool

	id       string // ID(token)
	gen      string // record generation at access time
	refunded atomic.Bool
}

// ID is the identifier a store files a token under: the unpadded base64url of the first 128
// bits of SHA-256(token) — 22 characters, short enough to keep a record small in Redis, and
// far beyond any chance of two tokens colliding.
func ID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// LogID is a short, non-reversible handle for a token that may appear in logs: the first 12
// hex digits of SHA-256(token).
func LogID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}

// Generate returns a new random token: 168 bits of entropy, 28 URL-safe characters.
func Generate() string {
	var b [21]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Custom-token rules: 16–128 characters of A-Za-z0-9_- . Generated tokens follow them too.
const (
	MinLen = 16
	MaxLen = 128
)

// WellFormed reports whether s could be a token: 16–128 characters of A-Za-z0-9_- .
// A string that is not well formed is treated exactly like an unknown token.
func WellFormed(s string) bool {
	if len(s) < MinLen || len(s) > MaxLen {
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

// newGeneration returns a random record generation: a decimal uint32, which Redis keeps as a
// 5-byte integer in the record's listpack.
func newGeneration() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)
}

// expired reports whether a token expiring at expireAt (Unix seconds) has expired at now.
func expired(expireAt int64, now time.Time) bool {
	return now.UnixMilli() >= expireAt*1000
}
