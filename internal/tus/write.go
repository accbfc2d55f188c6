package tus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// How bytes are laid out: the object is parts of partSize (the last may be shorter); part
// n+1 is written once it can be filled — from the bytes pending in the temporary object
// and the request body, streamed together — or, at the very end, with what is left. Bytes
// that do not fill a part go into a new temporary object (the pending bytes, then the new
// ones), named after the offset it ends at; the one it replaces is deleted after the commit.
// The committed upload (token.Upload) says which parts and which temporary object count:
// parts beyond it or other temporary objects are leftovers of requests that failed, replaced
// or deleted later.

// writer appends one request's body to an upload. It works on next, a copy of the committed
// upload, and after every step that stored bytes durably, next (with digest, the SHA-256 of
// exactly those bytes) is what may be committed.
type writer struct {
	h        *Handler
	ctx      context.Context // the work's: the request's, cancelled when the lease is lost
	tokenID  string
	g        *token.Grant
	be       objstore.Backend
	mp       objstore.Multipart
	partSize int64

	base   token.Upload // as committed
	next   token.Upload // with what this request stored so far
	st     state
	sum    hash.Hash // running SHA-256 of the object; nil when the token expects none
	digest []byte    // sum's state at next.Offset
	stale  []string  // temporary objects next no longer needs
}

func (h *Handler) newWriter(ctx context.Context, tokenID string, u token.Upload, g *token.Grant) (*writer, error) {
	be, mp, ps, err := h.bucket(u.Bucket)
	if err != nil {
		return nil, err
	}
	st, err := decodeState(u.State)
	if err != nil {
		return nil, err
	}
	sum, err := st.digest()
	if err != nil {
		return nil, err
	}
	return &writer{h: h, ctx: ctx, tokenID: tokenID, g: g, be: be, mp: mp, partSize: ps,
		base: u, next: u, st: st, sum: sum, digest: st.Digest}, nil
}

// progressed reports whether the request stored bytes.
func (w *writer) progressed() bool { return w.next.Offset != w.base.Offset }

// complete reports whether every byte is stored in parts (the object can be created).
func (w *writer) complete() bool {
	return w.next.Length >= 0 && w.next.Offset == w.next.Length && w.next.Pending == 0
}

// partEnd is the offset where part next.Parts+1 ends.
func (w *writer) partEnd() int64 {
	end := (int64(w.next.Parts) + 1) * w.partSize
	if w.next.Length >= 0 {
		end = min(end, w.next.Length)
	}
	return end
}

// stored records a step: n more bytes are durable.
func (w *writer) stored(n int64) {
	w.next.Offset += n
	if w.sum != nil {
		w.digest = marshalDigest(w.sum)
	}
}

// state returns next's state with the digest of exactly its bytes.
func (w *writer) state() state {
	st := w.st
	st.Digest = w.digest
	return st
}

// commit stores next; on success the superseded temporary objects go (best effort).
func (w *writer) commit(ctx context.Context) error {
	w.next.State = w.state().encode()
	u, err := w.h.store.UpdateUpload(ctx, w.tokenID, w.next)
	if err != nil {
		return err
	}
	w.base, w.next = u, u
	for _, k := range w.stale {
		if err := w.be.Delete(ctx, k); err != nil {
			w.h.log.Warn("scratch_delete_failed", "upload_id", u.ID, "error", err)
		}
	}
	w.stale = nil
	return nil
}

// openScratch opens the pending bytes (an empty reader when there are none).
func (w *writer) openScratch() (io.ReadCloser, error) {
	if w.next.Pending == 0 {
		return io.NopCloser(http.NoBody), nil
	}
	obj, err := w.be.Get(w.ctx, scratchKey(w.next.ID, w.next.Offset), objstore.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("open the pending bytes: %w", err)
	}
	if obj.Length != w.next.Pending {
		obj.Body.Close()
		return nil, fmt.Errorf("the temporary object holds %d bytes, want %d", obj.Length, w.next.Pending)
	}
	return obj.Body, nil
}

// ensureMultipart opens the object store's multipart upload before the first part, and
// commits its id at once, so that no multipart upload exists that the record does not name.
func (w *writer) ensureMultipart() error {
	if w.next.StoreID != "" {
		return nil
	}
	id, err := w.mp.CreateMultipart(w.ctx, w.g.Record.Key, objstore.MultipartOptions{ContentType: w.st.ContentType,
		Metadata: w.g.Record.Metadata})
	if err != nil {
		return err
	}
	u := w.base
	u.StoreID = id
	if u, err = w.h.store.UpdateUpload(w.ctx, w.tokenID, u); err != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), afterwardTimeout)
		defer cancel()
		_ = w.mp.AbortMultipart(ctx, w.g.Record.Key, id)
		return err
	}
	w.base.StoreID, w.base.Version = id, u.Version
	w.next.StoreID, w.next.Version = id, u.Version
	return nil
}

// putPart stores part next.Parts+1: the pending bytes, then n bytes of src.
func (w *writer) putPart(src io.Reader, n int64) error {
	if err := w.ensureMultipart(); err != nil {
		return err
	}
	pending, err := w.openScratch()
	if err != nil {
		return err
	}
	defer pending.Close()
	old := w.next.Pending
	body := io.MultiReader(pending, io.LimitReader(src, n))
	if _, err := w.mp.UploadPart(w.ctx, w.g.Record.Key, w.next.StoreID, w.next.Parts+1, body, old+n); err != nil {
		return err
	}
	if old > 0 {
		w.stale = append(w.stale, scratchKey(w.next.ID, w.next.Offset))
	}
	w.next.Parts++
	w.next.Pending = 0
	w.stored(n)
	return nil
}

// putScratch keeps the pending bytes and n bytes of src in a new temporary object.
func (w *writer) putScratch(src io.Reader, n int64) error {
	pending, err := w.openScratch()
	if err != nil {
		return err
	}
	defer pending.Close()
	old := w.next.Pending
	key := scratchKey(w.next.ID, w.next.Offset+n)
	in := objstore.PutInput{Key: key, Body: io.MultiReader(pending, io.LimitReader(src, n)), Size: old + n}
	if _, err := w.be.Put(w.ctx, in); err != nil {
		return err
	}
	if old > 0 {
		w.stale = append(w.stale, scratchKey(w.next.ID, w.next.Offset))
	}
	w.next.Pending += n
	w.stored(n)
	return nil
}

// stream appends exactly n bytes of src (a body of known length), part by part, straight
// through: nothing is buffered but the copy buffers of the transfers.
func (w *writer) stream(src io.Reader, n int64) error {
	for {
		need := w.partEnd() - w.next.Offset
		switch {
		case need == 0 && w.next.Pending == 0:
			return nil // every byte is in parts
		case n >= need: // fills the part (or, with need 0, sends the pending bytes as the last)
			if err := w.putPart(src, need); err != nil {
				return err
			}
			n -= need
		case n > 0:
			return w.putScratch(src, n)
		default:
			return nil
		}
	}
}

// parts are part-sized buffers for bodies of unknown length, by size; their memory is taken
// from the upload budget while in use.
var parts sync.Map // int64 → *sync.Pool of *[]byte

func partBuffer(size int64) *[]byte {
	p, _ := parts.LoadOrStore(size, &sync.Pool{New: func() any { b := make([]byte, size); return &b }})
	return p.(*sync.Pool).Get().(*[]byte)
}

func putPartBuffer(b *[]byte) {
	if p, ok := parts.Load(int64(len(*b))); ok {
		p.(*sync.Pool).Put(b)
	}
}

// buffered appends src (a body of unknown length) through one part buffer from the upload
// budget: a part is sent once the buffer holds what fills it; what is left at the end of the
// body goes to the temporary object.
func (w *writer) buffered(src io.Reader) error {
	if err := w.h.budget.Acquire(w.ctx, w.partSize); err != nil {
		return err
	}
	defer w.h.budget.Release(w.partSize)
	bp := partBuffer(w.partSize)
	defer putPartBuffer(bp)
	buf := *bp
	for {
		need := w.partEnd() - w.next.Offset
		if need == 0 {
			if w.next.Pending > 0 {
				return w.putPart(http.NoBody, 0)
			}
			return nil
		}
		k, err := io.ReadFull(src, buf[:need])
		switch {
		case int64(k) == need:
			if err := w.putPart(bytes.NewReader(buf[:k]), int64(k)); err != nil {
				return err
			}
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			if k > 0 {
				return w.putScratch(bytes.NewReader(buf[:k]), int64(k))
			}
			return nil
		default:
			return err // what the buffer holds is lost: the client sends it again
		}
	}
}

// limitedBody is a request body that may bring at most left more bytes: reading past them
// fails with token.ErrSizeExceeded (the request is refused as a whole).
type limitedBody struct {
	r        io.Reader
	left     int64
	tooLarge bool
	err      error // the body's own failure
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, token.ErrSizeExceeded
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // at most one byte past the limit
	}
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		b.tooLarge = true
		return 0, token.ErrSizeExceeded
	}
	b.left -= int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// sniff decides the object's content type from the first bytes of the body when nothing
// announced it: they are peeked through a buffer, which the body is then read through.
func (w *writer) sniff(src io.Reader) (io.Reader, error) {
	if w.st.ContentType != "" || w.next.Offset != 0 {
		return src, nil
	}
	br := bufio.NewReaderSize(src, 64<<10)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	if len(head) == 0 {
		return br, nil // no byte yet: the next request decides
	}
	w.st.ContentType = http.DetectContentType(head)
	if rec := &w.g.Record; len(rec.ContentTypes) > 0 && !proxy.MediaAllowed(w.st.ContentType, rec.ContentTypes) {
		return nil, errTypeNotAllowed
	}
	return br, nil
}

// create makes the object from the complete upload: its parts (those the upload counts,
// checked against what the store lists) assembled, or an empty object.
func (w *writer) create(ctx context.Context) (objstore.PutResult, error) {
	rec := &w.g.Record
	if w.next.Parts == 0 { // an empty upload
		return w.be.Put(ctx, objstore.PutInput{Key: rec.Key, Body: http.NoBody, Size: 0, ContentType: w.st.ContentType,
			Metadata: rec.Metadata, IfNoneMatch: rec.IfNoneMatch})
	}
	listed, err := w.mp.ListParts(ctx, rec.Key, w.next.StoreID)
	if err != nil {
		return objstore.PutResult{}, err
	}
	use := make([]objstore.Part, 0, w.next.Parts)
	for _, p := range listed {
		if p.Number > w.next.Parts {
			continue // sent by a request that failed: not the upload's
		}
		size := w.partSize
		if p.Number == w.next.Parts {
			size = w.next.Length - int64(p.Number-1)*w.partSize
		}
		if p.Number != int32(len(use)+1) || p.Size != size {
			break
		}
		use = append(use, p)
	}
	if len(use) != int(w.next.Parts) {
		return objstore.PutResult{}, fmt.Errorf("the store lists %d of the upload's %d parts", len(use), w.next.Parts)
	}
	return w.mp.CompleteMultipart(ctx, rec.Key, w.next.StoreID, use, objstore.CompleteOptions{IfNoneMatch: rec.IfNoneMatch})
}

// hexSum is the hex digest of h so far.
func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
