// Package tus serves tus 1.0 resumable uploads through a PUT token: /tus/{token} creates an
// upload (consuming the token's hit), /tus/{token}/{upload} takes its data in PATCH requests
// that any replica can serve, and the object appears at the token's key, whole, when the last
// byte has arrived. Extensions: creation, creation-with-upload, creation-defer-length,
// termination, expiration and checksum.
//
// State lives in the token store (token.Upload, bound to the token): the offset, the object
// store's multipart upload, the parts done, and an opaque state (the content type, the running
// SHA-256 when the token expects one). Bytes live in the bucket: every part but the last is
// the alias's part size; bytes that do not fill a part yet are kept in a temporary object
// under upload.ScratchPrefix, so a replica that dies loses nothing it acknowledged. One
// request writes to an upload at a time (the store's lease); memory is one copy buffer per
// PATCH with a Content-Length, one part from the shared upload budget without.
//
// Invariants: a HEAD costs nothing; an upload never holds more than its token's size; the
// object is never visible half-written; a revoked token's uploads take no more data and are
// aborted by the janitor; an upload that ends without an object hands its hit back.
package tus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// Kind is the token.Upload kind of tus uploads.
const Kind = "tus"

// Store is what tus needs from the token store.
type Store = upload.Tokens

// Options configure a Handler. Every field is required unless its comment says otherwise.
type Options struct {
	Store   Store
	Buckets map[string]objstore.Backend
	// PartSize is each S3 alias's part size; an alias not listed (a file bucket) uses
	// objstore.MinPartSize.
	PartSize map[string]int64
	// Budget is the process's upload memory: a PATCH without Content-Length buffers one part
	// from it.
	Budget *objstore.UploadBudget
	// Host is the public base URL of upload URLs (Location), e.g. "https://gw.example.com".
	Host string
	// UploadTTL bounds an upload's life (Upload-Expires).
	UploadTTL time.Duration
	// Notifier receives the asset.access event of each completed upload; nil: no webhooks.
	Notifier proxy.Notifier
	// ClientIP returns a request's client address; nil: the TCP peer.
	ClientIP func(*http.Request) string
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler serves /tus/{token} and /tus/{token}/{upload}; it is also the janitor's Owner of
// tus uploads (Cleanup).
type Handler struct {
	store    Store
	buckets  map[string]objstore.Backend
	partSize map[string]int64
	budget   *objstore.UploadBudget
	host     string
	ttl      time.Duration
	notifier proxy.Notifier
	clientIP func(*http.Request) string
	log      *slog.Logger
	now      func() time.Time
}

// New returns a Handler.
func New(o Options) *Handler {
	h := &Handler{store: o.Store, buckets: o.Buckets, partSize: o.PartSize, budget: o.Budget,
		host: strings.TrimRight(o.Host, "/"), ttl: o.UploadTTL, notifier: o.Notifier, clientIP: o.ClientIP,
		log: o.Logger, now: o.Now}
	if h.clientIP == nil {
		h.clientIP = proxy.PeerIP
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// afterwardTimeout bounds store calls made once the client may be gone (commits, refunds,
// webhooks): they run on a context detached from the request's.
const afterwardTimeout = 10 * time.Second

func afterward(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), afterwardTimeout)
}

// bucket returns an alias's backend, its Multipart and its part size.
func (h *Handler) bucket(alias string) (objstore.Backend, objstore.Multipart, int64, error) {
	be := h.buckets[alias]
	mp, ok := objstore.AsMultipart(be)
	if be == nil || !ok {
		return nil, nil, 0, upstream(fmt.Errorf("bucket alias %q is not configured for uploads", alias))
	}
	ps := h.partSize[alias]
	if ps == 0 {
		ps = objstore.MinPartSize
	}
	return be, mp, ps, nil
}

// maxSize is the most an upload through rec may hold: its size limit, and what MaxParts
// parts of partSize hold.
func maxSize(rec *token.Record, partSize int64) int64 {
	m := partSize * objstore.MaxParts
	if rec.Size != token.Unlimited {
		m = min(m, rec.Size)
	}
	return m
}

// Options serves OPTIONS /tus/{token}[/{upload}]: the server's capabilities. A CORS
// preflight (Access-Control-Request-Method) gets them without the token being looked at;
// otherwise the token must exist (404 token_not_found, counted by the brute-force limiter),
// a client outside the token's ip is refused (403, whatever the token's state), and
// Tus-Max-Size tells the most a live PUT token accepts. Nothing is consumed or recorded.
func (h *Handler) Options(w http.ResponseWriter, r *http.Request) error {
	hdr := w.Header()
	hdr.Set("Tus-Version", Version)
	hdr.Set("Tus-Extension", Extensions)
	hdr.Set("Tus-Checksum-Algorithm", ChecksumAlgorithms)
	if r.Header.Get("Access-Control-Request-Method") == "" {
		tok := r.PathValue("token")
		if !token.WellFormed(tok) {
			return token.ErrNotFound
		}
		rec, err := h.store.Get(r.Context(), tok)
		switch {
		case err != nil:
			return err
		case len(rec.IPs) > 0 && !proxy.IPAllowed(h.clientIP(r), rec.IPs):
			return proxy.ErrForbidden
		case rec.Method == token.MethodPut && h.now().UnixMilli() < rec.ExpireAt*1000:
			// An expired token still gets the capabilities; the creation would say 410.
			if _, _, ps, err := h.bucket(rec.Bucket); err == nil {
				hdr.Set("Tus-Max-Size", strconv.FormatInt(maxSize(&rec, ps), 10))
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// refund hands back the hit g consumed; a failure is logged (fail closed).
func (h *Handler) refund(r *http.Request, g *token.Grant) {
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.store.Refund(ctx, g); err != nil {
		h.log.Warn("refund_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
	}
}

// uploadURL is where an upload takes its data.
func (h *Handler) uploadURL(tok, id string) string { return h.host + "/tus/" + tok + "/" + id }

// expiresAt is when an upload created now through rec expires (Unix ms): the earlier of the
// token's expiry and now plus the upload TTL.
func (h *Handler) expiresAt(rec *token.Record) int64 {
	return min(rec.ExpireAt*1000, h.now().Add(h.ttl).UnixMilli())
}

// load finds the upload a request names. A token that does not exist is token_not_found (as
// on /object, for the limiter); an upload that does not (or not for this token generation)
// is upload_not_found.
func (h *Handler) load(ctx context.Context, r *http.Request) (string, token.Upload, *token.Grant, error) {
	tok := r.PathValue("token")
	if !token.WellFormed(tok) {
		return "", token.Upload{}, nil, token.ErrNotFound
	}
	id := r.PathValue("upload")
	if !token.ValidUploadID(id) {
		id = "-" // names no upload, but the token is still looked up
	}
	tokenID := token.ID(tok)
	u, g, err := h.store.Upload(ctx, tokenID, id)
	if errors.Is(err, token.ErrUploadNotFound) {
		return "", token.Upload{}, nil, errUploadNotFound
	}
	if err != nil {
		return "", token.Upload{}, nil, err
	}
	if len(g.Record.IPs) > 0 && !proxy.IPAllowed(h.clientIP(r), g.Record.IPs) {
		return "", token.Upload{}, nil, proxy.ErrForbidden
	}
	return tokenID, u, g, nil
}

// expired reports whether u is past its expiry (it ends at the janitor's next sweep).
func (h *Handler) expired(u token.Upload) bool { return h.now().UnixMilli() >= u.ExpiresAt }

// setUploadHeaders sets what HEAD, PATCH and POST answers tell of u.
func setUploadHeaders(hdr http.Header, u token.Upload) {
	hdr.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	hdr.Set("Upload-Expires", httpDate(u.ExpiresAt))
	hdr.Set("Cache-Control", "no-store")
}

// Head serves HEAD /tus/{token}/{upload}: the upload's offset, length, metadata and expiry.
// It consumes nothing and changes nothing.
func (h *Handler) Head(w http.ResponseWriter, r *http.Request) error {
	if err := checkVersion(w, r); err != nil {
		return err
	}
	_, u, _, err := h.load(r.Context(), r)
	if err != nil {
		return err
	}
	if h.expired(u) {
		return errUploadExpired
	}
	hdr := w.Header()
	setUploadHeaders(hdr, u)
	if u.Length >= 0 {
		hdr.Set("Upload-Length", strconv.FormatInt(u.Length, 10))
	} else {
		hdr.Set("Upload-Defer-Length", "1")
	}
	if len(u.Meta) > 0 {
		hdr.Set("Upload-Metadata", encodeMetadata(u.Meta))
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// lockTTL is the lease of a writer's lock; a writer renews it every lockTTL/3 while it works,
// so only a dead writer loses it.
const lockTTL = 30 * time.Second

// newHolder names one writer.
func newHolder() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Terminate serves DELETE /tus/{token}/{upload} (termination): the upload ends, its parts and
// temporary objects go, and the hit its creation consumed is handed back — unless it already
// created its object, which stays.
func (h *Handler) Terminate(w http.ResponseWriter, r *http.Request) error {
	if err := checkVersion(w, r); err != nil {
		return err
	}
	tokenID, u, _, err := h.load(r.Context(), r)
	if err != nil {
		return err
	}
	holder := newHolder()
	if u, _, err = h.lock(r, tokenID, u.ID, holder); err != nil {
		return err
	}
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.end(ctx, tokenID, u); err != nil {
		_ = h.store.UnlockUpload(ctx, tokenID, u.ID, holder)
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// lock takes the upload's lock for holder (423 when another request has it) and reads the
// upload again under it.
func (h *Handler) lock(r *http.Request, tokenID, id, holder string) (token.Upload, *token.Grant, error) {
	ok, err := h.store.LockUpload(r.Context(), tokenID, id, holder, lockTTL)
	switch {
	case errors.Is(err, token.ErrUploadNotFound):
		return token.Upload{}, nil, errUploadNotFound
	case err != nil:
		return token.Upload{}, nil, err
	case !ok:
		return token.Upload{}, nil, errLocked
	}
	u, g, err := h.store.Upload(r.Context(), tokenID, id)
	if err != nil {
		ctx, cancel := afterward(r)
		defer cancel()
		_ = h.store.UnlockUpload(ctx, tokenID, id, holder)
		if errors.Is(err, token.ErrUploadNotFound) {
			err = errUploadNotFound
		}
		return token.Upload{}, nil, err
	}
	return u, g, nil
}

// end ends an upload now: Cleanup, then the record (handing back its hit if it holds it). If
// the clean-up fails the upload is marked expired instead, so that the janitor finishes it.
func (h *Handler) end(ctx context.Context, tokenID string, u token.Upload) error {
	if err := h.Cleanup(ctx, tokenID, u); err != nil {
		h.log.Warn("upload_cleanup_failed", "upload_id", u.ID, "error", err)
		u.ExpiresAt = min(u.ExpiresAt, h.now().UnixMilli())
		if _, uerr := h.store.UpdateUpload(ctx, tokenID, u); uerr != nil && !errors.Is(uerr, token.ErrNotFound) {
			return uerr
		}
		return nil
	}
	if err := h.store.DeleteUpload(ctx, tokenID, u.ID); err != nil && !errors.Is(err, token.ErrUploadNotFound) {
		return err
	}
	return nil
}

// Cleanup implements upload.Owner: it aborts the upload's multipart upload, if it still has
// one, and deletes every temporary object it left. Safe to repeat.
func (h *Handler) Cleanup(ctx context.Context, tokenID string, u token.Upload) error {
	be, mp, _, err := h.bucket(u.Bucket)
	if err != nil {
		h.log.Warn("upload_bucket_gone", "upload_id", u.ID, "bucket", u.Bucket)
		return nil // nothing this gateway can reach: the bucket's lifecycle rules must do
	}
	if u.StoreID != "" {
		if err := mp.AbortMultipart(ctx, u.Key, u.StoreID); err != nil {
			return fmt.Errorf("abort multipart upload: %w", err)
		}
	}
	return deleteScratch(ctx, be, u.ID, "")
}

// notify queues the token's webhook for a completed upload, if it has one.
func (h *Handler) notify(r *http.Request, rec *token.Record, res objstore.PutResult) {
	if rec.Callback == "" || h.notifier == nil {
		return
	}
	ev := callback.Event{
		Event:     callback.EventAccess,
		Method:    http.MethodPut,
		Status:    http.StatusOK,
		Bucket:    rec.Bucket,
		Key:       rec.Key,
		Size:      res.Size,
		ETag:      res.ETag,
		ClientIP:  h.clientIP(r),
		UserAgent: r.UserAgent(),
		Referer:   r.Referer(),
		RequestID: r.Header.Get("X-Request-Id"),
		Timestamp: h.now().Unix(),
	}
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.notifier.Enqueue(ctx, rec.Callback, ev); err != nil {
		h.log.Warn("callback_enqueue_failed", "request_id", ev.RequestID, "error", err)
	}
}
