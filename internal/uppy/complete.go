package uppy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Complete serves POST /uppy/{token}/s3/multipart/{upload}/complete?key= {parts:[{PartNumber,
// ETag}]}. Under the upload's lock (a concurrent completion or abort gets 423), it checks the
// parts against the store's own list — each named part stored with that ETag, their sizes
// within the token's cap (else the upload is aborted: 413) — then completes the upload
// (with If-None-Match: * for an if_none_match token: 412 and aborted when an object is in
// place), marks the token uploaded, sends one webhook (PUT, 200, the size) and ends the
// session, its hit kept.
func (h *Handler) Complete(w http.ResponseWriter, r *http.Request) error {
	s, err := h.open(r)
	if err != nil {
		return err
	}
	var req struct {
		Parts []part `json:"parts"`
	}
	if err := readJSON(w, r, maxCompleteBody, &req); err != nil {
		return err
	}
	if err := checkParts(req.Parts, partBound(s.g.Record.Size)); err != nil {
		return err
	}
	unlock, err := h.lock(r, s)
	if err != nil {
		return err
	}
	defer unlock()
	parts, size, err := h.storedParts(r, s, req.Parts)
	if err != nil {
		return err
	}
	if limit := s.g.Record.Size; limit >= 0 && size > limit {
		if err := h.discard(r, s); err != nil {
			return err
		}
		return token.ErrSizeExceeded
	}
	res, err := h.assemble(r, s, parts)
	if err != nil {
		return err
	}
	h.finish(r, s, res)
	return writeJSON(w, http.StatusOK, struct {
		Location string `json:"location"`
		Key      string `json:"key"`
	}{h.host + "/object/" + r.PathValue("token"), s.u.Key})
}

// checkParts vets a completion's list before anything is asked: 1 to MaxParts parts, in
// strictly ascending order, each within the token's bound (no other was ever signed) and
// with an ETag.
func checkParts(parts []part, bound int32) error {
	if len(parts) == 0 || len(parts) > objstore.MaxParts {
		return badRequest(fmt.Sprintf("parts: want 1 to %d parts", objstore.MaxParts))
	}
	for i, p := range parts {
		switch {
		case p.PartNumber < 1 || p.PartNumber > objstore.MaxParts:
			return errPartNumber
		case p.PartNumber > bound:
			return badRequest(fmt.Sprintf("parts: part %d was never signed (the token's size needs at most %d)", p.PartNumber, bound))
		case i > 0 && p.PartNumber <= parts[i-1].PartNumber:
			return badRequest("parts: part numbers must ascend")
		case bareETag(p.ETag) == "":
			return badRequest(fmt.Sprintf("parts: part %d has no ETag", p.PartNumber))
		}
	}
	return nil
}

// bareETag drops an ETag's quotes (Uppy strips them; S3 lists them quoted).
func bareETag(s string) string { return strings.Trim(strings.TrimSpace(s), `"`) }

// storedParts matches the named parts to what the store holds — a lying client names parts
// it never sent, or with other ETags: 400 — and returns them with their stored sizes, and
// the size of the object they make.
func (h *Handler) storedParts(r *http.Request, s *session, named []part) ([]objstore.Part, int64, error) {
	stored, err := s.alias.Objects.ListParts(r.Context(), s.u.Key, s.u.StoreID)
	if errors.Is(err, objstore.ErrUploadNotFound) {
		return nil, 0, h.gone(r, s)
	}
	if err != nil {
		return nil, 0, upstream(err)
	}
	byNumber := make(map[int32]objstore.Part, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	parts := make([]objstore.Part, len(named))
	var size int64
	for i, p := range named {
		sp, ok := byNumber[p.PartNumber]
		if !ok || sp.ETag != bareETag(p.ETag) {
			return nil, 0, badRequest(fmt.Sprintf("parts: part %d was not uploaded with that ETag", p.PartNumber))
		}
		parts[i] = sp
		size += sp.Size
	}
	return parts, size, nil
}

// assemble completes the store's upload. The session gives up its hit first: should the
// gateway die or the store's answer get lost, a completed upload never gets its hit back
// (fail closed). An answer that says nothing was created — parts the store refuses (400),
// an object in place of an if_none_match token (412: the upload is aborted) — gives the
// hit back to the session.
func (h *Handler) assemble(r *http.Request, s *session, parts []objstore.Part) (objstore.PutResult, error) {
	held := s.u
	held.Hit = false
	u, err := h.store.UpdateUpload(r.Context(), s.tokenID, held)
	if err != nil {
		if errors.Is(err, token.ErrUploadNotFound) {
			return objstore.PutResult{}, errNotYours
		}
		return objstore.PutResult{}, err // ErrConflict cannot happen under the lock: a 500 if it does
	}
	s.u = u
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), lockLease)
	defer cancel() // the store decides once asked; a client that leaves changes nothing
	res, cerr := s.alias.Objects.CompleteMultipart(ctx, s.u.Key, s.u.StoreID, parts,
		objstore.CompleteOptions{IfNoneMatch: s.g.Record.IfNoneMatch})
	if cerr == nil {
		return res, nil
	}
	if !errors.Is(cerr, objstore.ErrInvalidParts) && !errors.Is(cerr, objstore.ErrPreconditionFailed) {
		return objstore.PutResult{}, upstream(cerr) // unknown outcome: the hit stays spent
	}
	back := s.u
	back.Hit = true
	if u, err := h.store.UpdateUpload(ctx, s.tokenID, back); err != nil {
		h.log.Warn("uppy_hit_restore_failed", "request_id", r.Header.Get("X-Request-Id"), "upload_id", back.ID, "error", err)
	} else {
		s.u = u
	}
	if errors.Is(cerr, objstore.ErrInvalidParts) {
		return objstore.PutResult{}, badRequest("the store refused the parts (all but the last must be at least 5 MiB)")
	}
	if derr := h.discard(r, s); derr != nil {
		return objstore.PutResult{}, derr
	}
	return objstore.PutResult{}, objstore.ErrPreconditionFailed
}

// finish records a completed upload: the token is marked uploaded, its webhook queued, the
// session deleted (its hit was spent in assemble). Failures are logged: the object is there.
func (h *Handler) finish(r *http.Request, s *session, res objstore.PutResult) {
	ctx, cancel := afterward(r)
	defer cancel()
	rid := r.Header.Get("X-Request-Id")
	if err := h.store.MarkUploaded(ctx, s.g); err != nil {
		h.log.Error("mark_uploaded_failed", "request_id", rid, "error", err)
	}
	h.notify(r, &s.g.Record, http.StatusOK, res.Size, res.ETag)
	if err := h.store.DeleteUpload(ctx, s.tokenID, s.u.ID); err != nil && !errors.Is(err, token.ErrUploadNotFound) {
		h.log.Warn("upload_delete_failed", "request_id", rid, "upload_id", s.u.ID, "error", err)
	}
	h.log.Info("uppy_upload_completed", "request_id", rid, "upload_id", s.u.ID, "size", res.Size)
}

// Abort serves DELETE /uppy/{token}/s3/multipart/{upload}?key=: the store's upload is
// aborted, the session deleted and the token's hit handed back, so the client can start
// again. 204.
func (h *Handler) Abort(w http.ResponseWriter, r *http.Request) error {
	s, err := h.open(r)
	if err != nil {
		return err
	}
	unlock, err := h.lock(r, s)
	if err != nil {
		return err
	}
	defer unlock()
	if err := h.discard(r, s); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
