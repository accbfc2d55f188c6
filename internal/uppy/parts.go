package uppy

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// SignPart serves GET /uppy/{token}/s3/multipart/{upload}/{part}?key=: a presigned
// UploadPart URL for part {part}, living the alias's presign_ttl. A part number above the
// token's bound (partBound) means a file larger than the cap: the upload is aborted, the hit
// handed back, 413.
func (h *Handler) SignPart(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		return errHead
	}
	s, err := h.open(r)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(r.PathValue("part"), 10, 32)
	if err != nil || n < 1 || n > objstore.MaxParts {
		return errPartNumber
	}
	if int32(n) > partBound(s.g.Record.Size) {
		return h.overCap(r, s)
	}
	url, err := s.alias.Objects.PresignUploadPart(r.Context(), s.u.Key, s.u.StoreID, int32(n), s.alias.PresignTTL)
	if err != nil {
		return upstream(err)
	}
	return writeJSON(w, http.StatusOK, struct {
		URL     string `json:"url"`
		Expires int64  `json:"expires"`
	}{url, int64(s.alias.PresignTTL / time.Second)})
}

// overCap ends an upload that is larger than its token allows: abort, hit back, 413.
func (h *Handler) overCap(r *http.Request, s *session) error {
	unlock, err := h.lock(r, s)
	if err != nil {
		return err
	}
	defer unlock()
	if err := h.discard(r, s); err != nil {
		return err
	}
	return token.ErrSizeExceeded
}

// part is one part on the wire, as Uppy reads and sends it (S3's member names).
type part struct {
	PartNumber int32  `json:"PartNumber"`
	ETag       string `json:"ETag"`
	Size       int64  `json:"Size,omitempty"`
}

// ListParts serves GET /uppy/{token}/s3/multipart/{upload}?key=: the parts stored so far, in
// order (Uppy resumes from them after a reload). ETags are bare, as every JSON etag of the
// gateway.
func (h *Handler) ListParts(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		return errHead
	}
	s, err := h.open(r)
	if err != nil {
		return err
	}
	stored, err := s.alias.Objects.ListParts(r.Context(), s.u.Key, s.u.StoreID)
	if errors.Is(err, objstore.ErrUploadNotFound) {
		return h.gone(r, s)
	}
	if err != nil {
		return upstream(err)
	}
	out := make([]part, len(stored))
	for i, p := range stored {
		out[i] = part{PartNumber: p.Number, ETag: p.ETag, Size: p.Size}
	}
	return writeJSON(w, http.StatusOK, out)
}

// gone ends a session whose store upload vanished (a lifecycle rule aborted it): the
// session is deleted, handing its hit back, and the client is told the upload is no more.
func (h *Handler) gone(r *http.Request, s *session) error {
	ctx, cancel := afterward(r)
	defer cancel()
	if err := h.store.DeleteUpload(ctx, s.tokenID, s.u.ID); err != nil && !errors.Is(err, token.ErrUploadNotFound) {
		return err
	}
	return errNotYours
}
