package proxy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/assetgateway/assetgateway/internal/byterange"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/edge"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// The accesses themselves, once a token has been checked and its hit reserved: what /object
// does after admission, shared with the S3 listener (package s3api), which admits its
// requests its own way. Each one hands the hit back when nothing was delivered, and queues
// the token's webhook when something was. Errors are the ones /object answers.

// ServeGet streams key from be to w for a GET whose hit g reserved: Range and If-Range, the
// preconditions (a 304 is written here), the object headers. Once the status is out, a
// failure cuts the connection (panic(http.ErrAbortHandler)).
func (h *Handler) ServeGet(w http.ResponseWriter, r *http.Request, g *token.Grant, be objstore.Backend, key string) error {
	opts := objstore.GetOptions{Range: byterange.Parse(r.Header.Get("Range")), Conditions: conditions(r)}
	obj, err := be.Get(r.Context(), key, opts)
	if ifRange := r.Header.Get("If-Range"); err == nil && obj.Partial && ifRange != "" && !ifRangeHolds(ifRange, obj.ObjectInfo) {
		// The object changed since the client's partial copy: it gets the whole new one.
		obj.Body.Close()
		opts.Range = nil
		obj, err = be.Get(r.Context(), key, opts)
	}
	if err != nil {
		h.Refund(r, g) // nothing delivered: not modified, precondition failed, missing, …
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		var nm *objstore.NotModifiedError
		if errors.As(err, &nm) {
			notModified(w, nm.Info)
			return nil
		}
		var re *objstore.RangeError
		if errors.As(err, &re) && re.Size >= 0 {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(re.Size, 10))
		}
		return upstream(err)
	}
	defer obj.Body.Close()

	hdr := w.Header()
	setObjectHeaders(hdr, &g.Record, obj.ObjectInfo)
	hdr.Set("Content-Length", strconv.FormatInt(obj.Length, 10))
	status := http.StatusOK
	if obj.Partial {
		status = http.StatusPartialContent
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", obj.Start, obj.Start+obj.Length-1, obj.Size))
	}
	w.WriteHeader(status)

	n, readErr, writeErr := copyBody(w, obj.Body)
	if n != obj.Length || readErr != nil || writeErr != nil {
		// The status line is out: the only honest signal left is to cut the connection so
		// the client sees a short body, never a clean end.
		clientGone := writeErr != nil || r.Context().Err() != nil
		if !clientGone {
			h.Refund(r, g) // the object store failed us mid-body: nothing usable was delivered
		}
		h.log.Warn("download_interrupted", "request_id", r.Header.Get("X-Request-Id"),
			"sent", n, "want", obj.Length, "client_gone", clientGone, "error", errors.Join(readErr, writeErr))
		panic(http.ErrAbortHandler)
	}
	h.Notify(r, r.Method, g, key, status, obj.Size, obj.ETag)
	return nil
}

// ServeHead answers a HEAD of key in be through g (which consumed nothing): the headers a
// GET would carry, or a 304.
func (h *Handler) ServeHead(w http.ResponseWriter, r *http.Request, g *token.Grant, be objstore.Backend, key string) error {
	info, err := be.Head(r.Context(), key, conditions(r))
	if err != nil {
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		var nm *objstore.NotModifiedError
		if errors.As(err, &nm) {
			notModified(w, nm.Info)
			return nil
		}
		return upstream(err)
	}
	hdr := w.Header()
	setObjectHeaders(hdr, &g.Record, info)
	hdr.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	h.Notify(r, r.Method, g, key, http.StatusOK, info.Size, info.ETag)
	return nil
}

// ServePut streams body — size bytes, -1 when unknown — to the key of g's token in be, for a
// PUT whose hit g reserved, under the token's upload rules (size, sha256, metadata,
// if_none_match) and with r's Content-Type. On success the token is marked uploaded and its
// webhook queued; on failure the hit is handed back and nothing is stored.
func (h *Handler) ServePut(r *http.Request, g *token.Grant, be objstore.Backend, body io.Reader, size int64) (objstore.PutResult, error) {
	rec := &g.Record
	in := objstore.PutInput{
		Key:         rec.Key,
		Size:        size,
		ContentType: r.Header.Get("Content-Type"),
		Metadata:    rec.Metadata,
		IfNoneMatch: rec.IfNoneMatch,
	}
	if rec.SHA256 != "" {
		in.SHA256, _ = hex.DecodeString(rec.SHA256) // validated when the token was minted
	}
	lb := NewLimitedBody(body, rec.Size)
	in.Body = lb
	res, err := be.Put(r.Context(), in)
	if err != nil {
		h.Refund(r, g)
		switch {
		case lb.TooLarge():
			return res, token.ErrSizeExceeded
		case errors.Is(lb.Err(), edge.ErrBodyTimeout):
			// Cut by the gateway, which may also have ended the request's context: the
			// client is still there to read the 408.
			return res, &BodyError{Err: lb.Err()}
		case r.Context().Err() != nil:
			return res, ErrClientGone
		case lb.Err() != nil:
			return res, &BodyError{Err: lb.Err()}
		}
		return res, upstream(err)
	}
	h.Stored(r, g, rec.Key, res)
	return res, nil
}

// Stored records an upload through g that created key: the token is marked uploaded and its
// webhook queued.
func (h *Handler) Stored(r *http.Request, g *token.Grant, key string, res objstore.PutResult) {
	ctx, cancel := Afterward(r)
	defer cancel()
	if err := h.store.MarkUploaded(ctx, g); err != nil {
		// The object is stored and the hit is spent; only the status flag is missing.
		h.log.Error("mark_uploaded_failed", "request_id", r.Header.Get("X-Request-Id"), "error", err)
	}
	h.Notify(r, http.MethodPut, g, key, http.StatusOK, res.Size, res.ETag)
}

// ServeDelete removes key from be for a DELETE whose hit g reserved (a missing object is no
// error, as with S3's DeleteObject).
func (h *Handler) ServeDelete(r *http.Request, g *token.Grant, be objstore.Backend, key string) error {
	if err := be.Delete(r.Context(), key); err != nil {
		h.Refund(r, g)
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		return upstream(err)
	}
	h.Notify(r, http.MethodDelete, g, key, http.StatusNoContent, 0, "")
	return nil
}

// Notify queues the webhook of g's token for an access by r to key, if the token has one and
// the grant says so (a HEAD fires it at most once per token.HeadNotifyInterval): method is
// the token method the access stands for (GET, HEAD, PUT, DELETE, LIST), status, size and
// etag what it delivered or stored.
func (h *Handler) Notify(r *http.Request, method string, g *token.Grant, key string, status int, size int64, etag string) {
	rec := &g.Record
	if rec.Callback == "" || h.notifier == nil || !g.Notify {
		return
	}
	ev := callback.Event{
		Event:     callback.EventAccess,
		Method:    method,
		Status:    status,
		Bucket:    rec.Bucket,
		Key:       key,
		Size:      size,
		ETag:      etag,
		Range:     r.Header.Get("Range"),
		ClientIP:  h.clientIP(r),
		UserAgent: r.UserAgent(),
		Referer:   r.Referer(),
		RequestID: r.Header.Get("X-Request-Id"),
		Timestamp: h.now().Unix(),
	}
	ctx, cancel := Afterward(r)
	defer cancel()
	if err := h.notifier.Enqueue(ctx, rec.Callback, ev); err != nil {
		h.log.Warn("callback_enqueue_failed", "request_id", ev.RequestID, "error", err)
	}
}
