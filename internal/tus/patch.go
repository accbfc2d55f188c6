package tus

import (
	"bytes"
	"context"
	"errors"
	"hash"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Create serves POST /tus/{token}: creation (consuming the token's hit; handed back if the
// creation fails), with an Upload-Length or Upload-Defer-Length: 1, and — creation-with-upload
// — the first bytes in the body.
func (h *Handler) Create(w http.ResponseWriter, r *http.Request) error {
	if err := checkVersion(w, r); err != nil {
		return err
	}
	length, err := uploadLength(r.Header)
	if err != nil {
		return err
	}
	meta, err := parseMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return err
	}
	withData, err := creationData(r)
	if err != nil {
		return err
	}
	sum, err := parseChecksum(r.Header.Get("Upload-Checksum"))
	if err != nil {
		return err
	}
	tok := r.PathValue("token")
	if !token.WellFormed(tok) {
		return token.ErrNotFound
	}
	g, err := h.store.Access(r.Context(), tok, token.Request{Method: token.MethodPut, ContentLength: length,
		Admit: h.admit(r, metadataType(meta))})
	if err != nil {
		if r.Context().Err() != nil {
			return proxy.ErrClientGone
		}
		return err
	}
	u, err := h.create(r, g, length, meta)
	if err != nil {
		h.refund(r, g)
		return err
	}
	hdr := w.Header()
	hdr.Set("Location", h.uploadURL(tok, u.ID))
	if withData || length == 0 {
		holder, tokenID := newHolder(), token.ID(tok)
		if u, g, err = h.lock(r, tokenID, u.ID, holder); err != nil {
			return err
		}
		u, err = h.write(r, tokenID, u, g, holder, sum)
		switch {
		case errors.Is(err, errEnded):
			return err // the upload could not be kept
		case err != nil && length == 0:
			// A client takes the answer to an empty upload's creation for its completion: the
			// object could not be made, so the upload ends and a new creation can try again.
			ctx, cancel := afterward(r)
			defer cancel()
			if eerr := h.end(ctx, tokenID, u); eerr != nil {
				h.log.Warn("upload_end_failed", "upload_id", u.ID, "error", eerr)
			}
			return err
		case err != nil:
			// The upload exists: the client learns from Upload-Offset what was stored.
			h.log.Info("tus_creation_data_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
		}
	}
	setUploadHeaders(hdr, u)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// creationData reports whether a POST carries data: with Content-Type
// application/offset+octet-stream. Another content type with a body is refused (415).
func creationData(r *http.Request) (bool, error) {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt == offsetType {
		return true, nil
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		return false, errPatchType
	}
	return false, nil
}

// admit is the token.Request.Admit of a creation, as /object judges a PUT: the client's
// address first (403, whatever the token's state: an outsider learns nothing of it), then,
// on a token that is live and takes uploads, the media type announced in Upload-Metadata
// (415). Both come before the hit is reserved.
func (h *Handler) admit(r *http.Request, contentType string) func(*token.Record) error {
	return func(rec *token.Record) error {
		if len(rec.IPs) > 0 && !proxy.IPAllowed(h.clientIP(r), rec.IPs) {
			return proxy.ErrForbidden
		}
		live := h.now().UnixMilli() < rec.ExpireAt*1000 && rec.Allows(token.MethodPut)
		if live && contentType != "" && len(rec.ContentTypes) > 0 && !proxy.MediaAllowed(contentType, rec.ContentTypes) {
			return errTypeNotAllowed
		}
		return nil
	}
}

// create checks a creation's length against the token and files the upload.
func (h *Handler) create(r *http.Request, g *token.Grant, length int64, meta map[string]string) (token.Upload, error) {
	rec := &g.Record
	_, _, ps, err := h.bucket(rec.Bucket)
	if err != nil {
		return token.Upload{}, err
	}
	if length > maxSize(rec, ps) {
		return token.Upload{}, token.ErrSizeExceeded
	}
	st := state{ContentType: metadataType(meta)}
	if rec.SHA256 != "" {
		st.Digest = newDigest()
	}
	u := token.Upload{Kind: Kind, Bucket: rec.Bucket, Key: rec.Key, Length: length, Meta: meta,
		State: st.encode(), ExpiresAt: h.expiresAt(rec), Hit: true}
	return h.store.CreateUpload(r.Context(), g, u)
}

// Patch serves PATCH /tus/{token}/{upload}: the body is appended at Upload-Offset, which must
// be the upload's offset (409 otherwise), by one request at a time (423 otherwise).
func (h *Handler) Patch(w http.ResponseWriter, r *http.Request) error {
	if err := checkVersion(w, r); err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != offsetType {
		return errPatchType
	}
	offset, err := parseSize("Upload-Offset", r.Header.Get("Upload-Offset"))
	if err != nil {
		return err
	}
	sum, err := parseChecksum(r.Header.Get("Upload-Checksum"))
	if err != nil {
		return err
	}
	tokenID, u, _, err := h.load(r.Context(), r)
	if err != nil {
		return err
	}
	if err := h.ready(u, offset); err != nil {
		return err // refused before the lock: a stranger's or a late request never waits
	}
	holder := newHolder()
	u, g, err := h.lock(r, tokenID, u.ID, holder)
	if err != nil {
		return err
	}
	if err := h.ready(u, offset); err != nil {
		h.unlock(r, tokenID, u.ID, holder)
		return err
	}
	u, err = h.write(r, tokenID, u, g, holder, sum)
	setUploadHeaders(w.Header(), u)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ready checks that u takes data at offset.
func (h *Handler) ready(u token.Upload, offset int64) error {
	switch {
	case h.expired(u):
		return errUploadExpired
	case offset != u.Offset:
		return errOffsetMismatch
	}
	return nil
}

func (h *Handler) unlock(r *http.Request, tokenID, id, holder string) {
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.store.UnlockUpload(ctx, tokenID, id, holder); err != nil {
		h.log.Warn("upload_unlock_failed", "upload_id", id, "error", err)
	}
}

// errEnded marks an error after which the upload no longer exists: its data could never make
// the object the token asks for (a refused type, a wrong SHA-256, an object in place).
var errEnded = errors.New("the upload was ended")

// write appends r's body to u — read under holder's lock, which it keeps renewed while it
// works and releases at the end — and, once every byte is in, creates the object. It returns
// the upload as committed.
func (h *Handler) write(r *http.Request, tokenID string, u token.Upload, g *token.Grant, holder string, sum *checksum) (token.Upload, error) {
	defer h.unlock(r, tokenID, u.ID, holder)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	l := h.hold(cancel, tokenID, u.ID, holder, lockTTL)
	defer l.release()
	wr, err := h.newWriter(ctx, tokenID, u, g)
	if err != nil {
		return u, err
	}
	if wr.st.Done { // the object exists: nothing more to take
		if r.ContentLength != 0 {
			return u, token.ErrSizeExceeded
		}
		return u, nil
	}
	if err := wr.declareLength(r.Header.Get("Upload-Length")); err != nil {
		return u, err
	}
	werr := wr.take(r, sum)
	switch {
	case werr == nil && wr.complete():
		return h.finish(r, wr)
	case errors.Is(werr, errTypeNotAllowed):
		return h.refuse(r, wr, werr)
	case werr != nil && !keeps(werr, sum, context.Cause(ctx)):
		return wr.base, h.answer(r, ctx, werr)
	}
	if wr.progressed() {
		actx, acancel := afterward(r)
		defer acancel()
		if err := wr.commit(actx); err != nil {
			return wr.base, h.answer(r, ctx, err)
		}
	}
	return wr.next, h.answer(r, ctx, werr)
}

// keeps reports whether what a failed request stored so far is kept: yes when the body broke
// or the store failed midway (tus: keep as much as possible), no when the request is refused
// as a whole (too large, a checksum that cannot be verified or does not match) or the lock
// was lost.
func keeps(err error, sum *checksum, cause error) bool {
	return sum == nil && !errors.Is(err, token.ErrSizeExceeded) && !errors.Is(err, errChecksum) &&
		!errors.Is(cause, errLeaseLost)
}

// answer turns a failure of the work into the client's answer.
func (h *Handler) answer(r *http.Request, ctx context.Context, err error) error {
	var te *Error
	switch {
	case err == nil:
		return nil
	case errors.Is(context.Cause(ctx), errLeaseLost), errors.Is(err, token.ErrConflict):
		return errLocked
	case errors.Is(err, token.ErrUploadNotFound), errors.Is(err, objstore.ErrUploadNotFound):
		return errUploadNotFound // ended meanwhile (terminated, or by the janitor)
	case errors.As(err, &te), errors.Is(err, token.ErrSizeExceeded), errors.Is(err, token.ErrNotFound),
		errors.Is(err, token.ErrUnavailable):
		return err
	case r.Context().Err() != nil:
		return proxy.ErrClientGone
	case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, new(*bodyError)):
		return &proxy.BodyError{Err: err}
	}
	return upstream(err)
}

// bodyError is a failure of the request body itself (the client's side).
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading the request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// declareLength takes a deferred upload's Upload-Length.
func (w *writer) declareLength(v string) error {
	if v == "" {
		return nil
	}
	n, err := parseSize("Upload-Length", v)
	switch {
	case err != nil:
		return err
	case w.next.Length >= 0 && n != w.next.Length:
		return badRequest("Upload-Length cannot change")
	case w.next.Length >= 0:
		return nil
	case n < w.next.Offset:
		return badRequest("Upload-Length is less than the bytes already uploaded")
	case n > maxSize(&w.g.Record, w.partSize):
		return token.ErrSizeExceeded
	}
	w.next.Length = n
	return nil
}

// take appends the request body: straight through when its length is known, through one
// part buffer when not. The body may not take the upload past its length, or past the
// token's size while the length is deferred (413); with an Upload-Checksum, nothing counts
// until the whole body matches it.
func (w *writer) take(r *http.Request, sum *checksum) error {
	limit := w.next.Length
	if limit < 0 {
		limit = maxSize(&w.g.Record, w.partSize)
	}
	cl := r.ContentLength
	if cl >= 0 && w.next.Offset+cl > limit {
		return token.ErrSizeExceeded // refused before a byte is read
	}
	body := &limitedBody{r: r.Body, left: limit - w.next.Offset}
	src, err := w.sniff(body)
	if err != nil {
		return err
	}
	var hashes []io.Writer
	for _, h := range []hash.Hash{w.sum, sumHash(sum)} {
		if h != nil {
			hashes = append(hashes, h)
		}
	}
	if len(hashes) > 0 {
		src = io.TeeReader(src, io.MultiWriter(hashes...))
	}
	if cl >= 0 {
		err = w.stream(src, cl)
	} else if err = w.buffered(src); err == nil && w.next.Length >= 0 {
		err = atEnd(src) // nothing may follow the last byte
	}
	if err != nil && body.err != nil && !errors.Is(err, token.ErrSizeExceeded) {
		err = &bodyError{body.err}
	}
	if err == nil && sum != nil && !bytes.Equal(sum.h.Sum(nil), sum.want) {
		err = errChecksum
	}
	return err
}

func sumHash(c *checksum) hash.Hash {
	if c == nil {
		return nil
	}
	return c.h
}

// atEnd checks that src has nothing more.
func atEnd(src io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(src, one[:])
	switch {
	case n > 0:
		return token.ErrSizeExceeded
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// finish creates the object from the complete upload, commits it done (the hit is spent),
// marks the token uploaded, sends the webhook and deletes the temporary objects. A
// completion the token's constraints refuse ends the upload.
func (h *Handler) finish(r *http.Request, wr *writer) (token.Upload, error) {
	ctx, cancel := afterward(r) // the object is being made: see it through if the client leaves
	defer cancel()
	rec := &wr.g.Record
	if rec.SHA256 != "" && hexSum(wr.sum) != rec.SHA256 {
		return h.refuse(r, wr, errObjectChecksum)
	}
	res, err := wr.create(ctx)
	if errors.Is(err, objstore.ErrPreconditionFailed) {
		return h.refuse(r, wr, err)
	}
	if err != nil {
		return wr.base, upstream(err)
	}
	wr.st.Done = true
	wr.next.StoreID, wr.next.Hit = "", false
	if err := wr.commit(ctx); err != nil {
		// The object exists; the upload still says otherwise (see docs/tus.md).
		h.log.Error("tus_commit_after_completion_failed", "request_id", r.Header.Get("X-Request-Id"), "upload_id", wr.base.ID, "error", err)
		return wr.base, err
	}
	if err := h.store.MarkUploaded(ctx, wr.g); err != nil {
		h.log.Error("mark_uploaded_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
	}
	h.notify(r, rec, res)
	if err := deleteScratch(ctx, wr.be, wr.next.ID, ""); err != nil {
		h.log.Warn("scratch_delete_failed", "upload_id", wr.next.ID, "error", err)
	}
	h.log.Info("tus_upload_completed", "request_id", r.Header.Get("X-Request-Id"), "upload_id", wr.next.ID,
		"size", res.Size, "parts", strconv.Itoa(int(wr.next.Parts)))
	return wr.next, nil
}

// refuse ends an upload whose data can never become the token's object, and answers why.
func (h *Handler) refuse(r *http.Request, wr *writer, why error) (token.Upload, error) {
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.end(ctx, wr.tokenID, wr.base); err != nil {
		h.log.Warn("upload_end_failed", "upload_id", wr.base.ID, "error", err)
	}
	return wr.base, errors.Join(why, errEnded)
}
