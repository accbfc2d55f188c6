package uppy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// Kind is the token.Upload kind of Uppy's multipart uploads.
const Kind = "uppy"

// Store is what the handler needs from the token store.
type Store = upload.Tokens

// Objects is what the handler needs from an alias's object store (objstore.DirectUploader
// has it): the multipart upload kept by the gateway, the presigned requests sent by the
// client.
type Objects interface {
	CreateMultipart(ctx context.Context, key string, o objstore.MultipartOptions) (string, error)
	ListParts(ctx context.Context, key, uploadID string) ([]objstore.Part, error)
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []objstore.Part, o objstore.CompleteOptions) (objstore.PutResult, error)
	AbortMultipart(ctx context.Context, key, uploadID string) error
	PresignUploadPart(ctx context.Context, key, uploadID string, number int32, ttl time.Duration) (string, error)
	PresignPost(ctx context.Context, key string, ttl time.Duration, p objstore.PostPolicy) (string, map[string]string, error)
}

// Alias is a bucket alias that takes direct uploads.
type Alias struct {
	Objects Objects
	// PresignTTL is how long a part URL or a POST policy lives. Required.
	PresignTTL time.Duration
}

// Options configures a Handler.
type Options struct {
	Store Store
	// Aliases are the bucket aliases whose PUT tokens may upload directly; the tokens of
	// any other alias are refused (400).
	Aliases map[string]Alias
	// Retention is the token store's: an upload session expires with its token's record,
	// at expire_at + Retention.
	Retention time.Duration
	// Host is the gateway's public base URL: a completed upload's location is
	// Host/object/{token}.
	Host string
	// Notifier receives the webhooks; nil: none.
	Notifier proxy.Notifier
	// ClientIP returns a request's client address after trusted-proxy handling; nil: the
	// TCP peer.
	ClientIP func(*http.Request) string
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler serves /uppy/{token}/s3/… (see the package doc). Its methods return errors that
// internal/api writes in the contract's shape.
type Handler struct {
	store     Store
	aliases   map[string]Alias
	retention time.Duration
	host      string
	notifier  proxy.Notifier
	clientIP  func(*http.Request) string
	log       *slog.Logger
	now       func() time.Time
}

// New returns a Handler.
func New(o Options) *Handler {
	h := &Handler{store: o.Store, aliases: o.Aliases, retention: o.Retention, host: o.Host, notifier: o.Notifier,
		clientIP: o.ClientIP, log: o.Logger, now: o.Now}
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

// Direct reports whether the tokens of a bucket alias may upload directly.
func (h *Handler) Direct(alias string) bool {
	_, ok := h.aliases[alias]
	return ok
}

// Limits of what a client sends.
const (
	// maxCreateBody caps the JSON of a create request ({filename, type, metadata}).
	maxCreateBody = 64 << 10
	// maxCompleteBody caps a completion's JSON: 10000 parts of {PartNumber, ETag} fit.
	maxCompleteBody = 2 << 20
	// maxFormSize is the largest object one S3 PUT (or form POST) may create: the cap of a
	// POST policy for a token without a size limit.
	maxFormSize = 5 << 30
	// lockLease bounds how long a completion or an abort holds its upload's lock, should the
	// gateway die while holding it. Completing an upload of 10000 parts takes S3 up to a few
	// minutes.
	lockLease = 10 * time.Minute
	// afterwardTimeout bounds the store calls made once the client may be gone (refunds,
	// aborts, marks, webhooks): they run on a context detached from the request.
	afterwardTimeout = 30 * time.Second
)

func afterward(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), afterwardTimeout)
}

// partBound is the highest part number an upload within a cap of size bytes can need:
// every part but the last holds at least objstore.MinPartSize bytes.
func partBound(size int64) int32 {
	if size < 0 {
		return objstore.MaxParts
	}
	n := (size + objstore.MinPartSize - 1) / objstore.MinPartSize
	return int32(min(max(n, 1), objstore.MaxParts))
}

// contentType vets the type a client declares for its file: a media type that parses; ""
// is application/octet-stream.
func contentType(v string) (string, error) {
	if v == "" {
		return "application/octet-stream", nil
	}
	if _, _, err := mime.ParseMediaType(v); err != nil || len(v) > 256 {
		return "", badRequest("type: not a media type")
	}
	return v, nil
}

// start checks a request that begins an upload (a POST policy or a multipart upload) against
// its token and reserves the token's hit: the client's address and the declared type are
// judged before anything is reserved, as on /object; a token whose alias takes no direct
// uploads or that expects a SHA-256 is refused, its hit handed back.
func (h *Handler) start(r *http.Request, ct string) (*token.Grant, Alias, error) {
	tok := r.PathValue("token")
	if !token.WellFormed(tok) {
		return nil, Alias{}, token.ErrNotFound // indistinguishable from an unknown token
	}
	admit := func(rec *token.Record) error {
		if len(rec.IPs) > 0 && !proxy.IPAllowed(h.clientIP(r), rec.IPs) {
			return proxy.ErrForbidden
		}
		live := h.now().UnixMilli() < rec.ExpireAt*1000 && rec.Allows(http.MethodPut)
		if live && len(rec.ContentTypes) > 0 && !proxy.MediaAllowed(ct, rec.ContentTypes) {
			return proxy.ErrUnsupportedMediaType
		}
		return nil
	}
	g, err := h.store.Access(r.Context(), tok, token.Request{Method: http.MethodPut, ContentLength: -1, Admit: admit})
	if err != nil {
		if r.Context().Err() != nil {
			return nil, Alias{}, proxy.ErrClientGone
		}
		return nil, Alias{}, err
	}
	a, ok := h.aliases[g.Record.Bucket]
	var refused error
	switch {
	case !ok:
		refused = errNotDirect
	case g.Record.SHA256 != "":
		refused = errChecksum
	}
	if refused != nil {
		h.refund(r, g)
		return nil, Alias{}, refused
	}
	return g, a, nil
}

// refund hands a hit back; a failure is logged (the hit stays consumed: fail closed).
func (h *Handler) refund(r *http.Request, g *token.Grant) {
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.store.Refund(ctx, g); err != nil {
		h.log.Warn("refund_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
	}
}

// session is a request on one upload: its token, its record and grant, and its alias.
type session struct {
	tokenID string
	u       token.Upload
	g       *token.Grant
	alias   Alias
}

// open finds the upload a request names ({token}, {upload}, ?key=) and checks that it is an
// Uppy upload of this token, of this key, and that the client may use the token. An unknown
// token is token_not_found whatever the rest says.
func (h *Handler) open(r *http.Request) (*session, error) {
	tok, id := r.PathValue("token"), r.PathValue("upload")
	if !token.WellFormed(tok) {
		return nil, token.ErrNotFound
	}
	if !token.ValidUploadID(id) {
		if _, err := h.store.Get(r.Context(), tok); err != nil {
			return nil, err
		}
		return nil, errNotYours
	}
	s := &session{tokenID: token.ID(tok)}
	var err error
	s.u, s.g, err = h.store.Upload(r.Context(), s.tokenID, id)
	switch {
	case errors.Is(err, token.ErrUploadNotFound):
		return nil, errNotYours
	case err != nil:
		return nil, err
	}
	if ips := s.g.Record.IPs; len(ips) > 0 && !proxy.IPAllowed(h.clientIP(r), ips) {
		return nil, proxy.ErrForbidden
	}
	var ok bool
	s.alias, ok = h.aliases[s.u.Bucket]
	if s.u.Kind != Kind || r.URL.Query().Get("key") != s.u.Key || !ok {
		return nil, errNotYours
	}
	return s, nil
}

// lock takes the upload's lock for one request (a completion, an abort) and reads the upload
// again under it; unlock releases it (a deleted upload has no lock left).
func (h *Handler) lock(r *http.Request, s *session) (unlock func(), err error) {
	holder := "uppy:" + token.NewUploadID()
	ok, err := h.store.LockUpload(r.Context(), s.tokenID, s.u.ID, holder, lockLease)
	switch {
	case errors.Is(err, token.ErrUploadNotFound):
		return nil, errNotYours
	case err != nil:
		return nil, err
	case !ok:
		return nil, errLocked
	}
	unlock = func() {
		ctx, cancel := afterward(r)
		defer cancel()
		if err := h.store.UnlockUpload(ctx, s.tokenID, s.u.ID, holder); err != nil {
			h.log.Warn("upload_unlock_failed", "request_id", r.Header.Get("X-Request-Id"), "upload_id", s.u.ID, "error", err)
		}
	}
	u, g, err := h.store.Upload(r.Context(), s.tokenID, s.u.ID)
	if err != nil {
		unlock()
		if errors.Is(err, token.ErrUploadNotFound) {
			return nil, errNotYours
		}
		return nil, err
	}
	s.u, s.g = u, g
	return unlock, nil
}

// discard aborts the store's multipart upload and deletes the session, which hands the
// token's hit back if the session still holds it. It runs to its end when the client leaves.
func (h *Handler) discard(r *http.Request, s *session) error {
	ctx, cancel := afterward(r)
	defer cancel()
	if err := s.alias.Objects.AbortMultipart(ctx, s.u.Key, s.u.StoreID); err != nil {
		return upstream(err)
	}
	if err := h.store.DeleteUpload(ctx, s.tokenID, s.u.ID); err != nil && !errors.Is(err, token.ErrUploadNotFound) {
		return err
	}
	h.log.Info("uppy_upload_aborted", "request_id", r.Header.Get("X-Request-Id"), "upload_id", s.u.ID, "hit_returned", s.u.Hit)
	return nil
}

// Cleanup implements upload.Owner for the janitor: it aborts the store's multipart upload of
// an expired or revoked session (again, harmlessly, if it is gone already).
func (h *Handler) Cleanup(ctx context.Context, tokenID string, u token.Upload) error {
	a, ok := h.aliases[u.Bucket]
	if !ok {
		return errors.New("bucket alias " + strconv.Quote(u.Bucket) + " takes no direct uploads any more")
	}
	if u.StoreID == "" {
		return nil
	}
	return a.Objects.AbortMultipart(ctx, u.Key, u.StoreID)
}

// notify queues the token's webhook, if it has one.
func (h *Handler) notify(r *http.Request, rec *token.Record, status int, size int64, etag string) {
	if rec.Callback == "" || h.notifier == nil {
		return
	}
	ev := callback.Event{
		Event: callback.EventAccess, Method: http.MethodPut, Status: status, Bucket: rec.Bucket, Key: rec.Key,
		Size: size, ETag: etag, ClientIP: h.clientIP(r), UserAgent: r.UserAgent(), Referer: r.Referer(),
		RequestID: r.Header.Get("X-Request-Id"), Timestamp: h.now().Unix(),
	}
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.notifier.Enqueue(ctx, rec.Callback, ev); err != nil {
		h.log.Warn("callback_enqueue_failed", "request_id", ev.RequestID, "error", err)
	}
}

// readJSON decodes a capped JSON body into v. Fields v does not name are ignored: the
// body is Uppy's, and a newer Uppy may send more.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Message: "request body too large"}
	case err != nil:
		return &proxy.BodyError{Err: err}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("invalid JSON body")
	}
	return nil
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)+1))
	hdr.Set("Cache-Control", "no-store") // presigned URLs are credentials
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}
