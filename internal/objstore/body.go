package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/sync/semaphore"
)

// This file holds what the S3 and File backends share: pooled buffers and the reader uploads
// go through.

// bufPool hands out byte slices of one fixed length and takes them back for reuse. Slices
// taken with acquire count against a memory budget (a semaphore weighted in bytes, shared by
// every S3 alias of a process), so the uploads of unknown length of a whole process never
// hold more than the budget in part buffers.
type bufPool struct {
	size   int
	pool   sync.Pool
	budget *UploadBudget // nil: unbounded (get and put only)
}

// UploadBudget bounds the memory that buffered upload parts may take in one process, across
// every bucket alias: an upload of unknown length waits (in arrival order) for its next part
// buffer rather than push the process past the budget. An upload never waits while it holds
// an unsent buffer, only while its sent parts (which free their buffers as they finish) are
// in flight, so waiting cannot deadlock.
type UploadBudget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewUploadBudget returns a budget of size bytes.
func NewUploadBudget(size int64) *UploadBudget {
	return &UploadBudget{sem: semaphore.NewWeighted(size), size: size}
}

func newBufPool(size int, budget *UploadBudget) *bufPool {
	p := &bufPool{size: size, budget: budget}
	p.pool.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return p
}

// Acquire waits, in arrival order, until n more bytes fit in the budget (or ctx ends); the
// caller gives them back with Release. Other packages that buffer upload bytes take their
// memory from the same budget, so the process stays within it.
func (b *UploadBudget) Acquire(ctx context.Context, n int64) error {
	if n > b.size {
		return fmt.Errorf("an upload buffer of %d bytes exceeds the upload memory budget of %d bytes", n, b.size)
	}
	return b.sem.Acquire(ctx, n)
}

// Release gives back n bytes taken with Acquire.
func (b *UploadBudget) Release(n int64) { b.sem.Release(n) }

// acquire is get, after waiting (in arrival order) for the memory budget to allow one more
// buffer.
func (p *bufPool) acquire(ctx context.Context) (*[]byte, error) {
	if err := p.budget.Acquire(ctx, int64(p.size)); err != nil {
		return nil, err
	}
	return p.get(), nil
}

// release is put for a buffer taken with acquire.
func (p *bufPool) release(b *[]byte) {
	p.put(b)
	p.budget.Release(int64(p.size))
}

// get returns a slice of exactly p.size bytes; its contents are arbitrary.
func (p *bufPool) get() *[]byte {
	b := p.pool.Get().(*[]byte)
	*b = (*b)[:p.size]
	return b
}

// put returns b to the pool. b must have come from get and must not be used afterwards.
func (p *bufPool) put(b *[]byte) { p.pool.Put(b) }

// fileBufs holds the buffers the File backend copies and hashes bodies through.
var fileBufs = newBufPool(256<<10, nil)

// uploadBody is what the backends read a PutInput's Body through. It
//   - never reads past the declared size (when known) and turns an early end of the body into
//     io.ErrUnexpectedEOF;
//   - stops with ctx's error once ctx is done;
//   - remembers the first failure, so that Put can wrap the body's own error even when the
//     store reports the broken upload in its own words.
//
// Reads must not overlap (they never do: one request reads at a time). Its bookkeeping is safe
// for concurrent use, because net/http may still be reading a request body from its own
// goroutine when a round trip returns; the lock is not held while Body is read, so asking for
// the failure never waits on a stalled client.
type uploadBody struct {
	ctx context.Context
	r   io.Reader
	sum hash.Hash // SHA-256 of what was read, when the upload must match one; else nil

	mu        sync.Mutex
	remaining int64 // bytes still expected; -1: unknown
	read      int64 // bytes read so far
	err       error // first failure; nil while the body is healthy
}

func newUploadBody(ctx context.Context, in PutInput) *uploadBody {
	b := &uploadBody{ctx: ctx, r: in.Body, remaining: in.Size}
	if in.SHA256 != nil {
		b.sum = sha256.New()
	}
	return b
}

// checkSum reports ErrChecksumMismatch unless everything read so far hashes to want (a nil
// want always passes). Call it once the body has been read to its end, before committing.
func (b *uploadBody) checkSum(want []byte) error {
	if want == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !bytes.Equal(b.sum.Sum(nil), want) {
		return ErrChecksumMismatch
	}
	return nil
}

func (b *uploadBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	failed, remaining := b.err, b.remaining
	if failed == nil && remaining != 0 {
		if err := b.ctx.Err(); err != nil {
			b.err, failed = err, err
		}
	}
	b.mu.Unlock()
	switch {
	case failed != nil:
		return 0, failed
	case remaining == 0:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	case remaining > 0 && int64(len(p)) > remaining:
		p = p[:remaining]
	}

	n, err := b.r.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sum != nil {
		b.sum.Write(p[:n])
	}
	b.read += int64(n)
	if b.remaining > 0 {
		b.remaining -= int64(n)
	}
	switch {
	case err == io.EOF && b.remaining > 0:
		err = fmt.Errorf("body ended after %d bytes, %d short of its declared length: %w",
			b.read, b.remaining, io.ErrUnexpectedEOF)
	case err == io.EOF:
		b.remaining = 0
		return n, io.EOF
	case err == nil:
		return n, nil
	}
	if b.err == nil {
		b.err = err
	}
	return n, err
}

// failure returns the body's first error (including ctx's), or nil.
func (b *uploadBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// bytesRead returns how many bytes have been read from the body so far.
func (b *uploadBody) bytesRead() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read
}

// putError builds Put's error: when the body failed, the error wraps the body's error (so
// errors.Is finds it) and mentions the store's view of the failure as text.
func putError(body *uploadBody, err error) error {
	if berr := body.failure(); berr != nil && !errors.Is(err, berr) {
		return fmt.Errorf("reading upload body: %w (store: %v)", berr, err)
	}
	return err
}
