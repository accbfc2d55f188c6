package objstore

import (
	"container/list"
	"context"
	"fmt"
	"sync"
)

// Budget bounds the memory that buffered upload parts may take in one process, across every
// bucket alias: an upload of unknown length waits for its next part buffer rather than push
// the process past the budget. Waiters are served in arrival order. An upload never waits
// while it holds an unsent buffer, only while its sent parts (which free their buffers as
// they finish) are in flight, so waiting cannot deadlock.
type Budget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters list.List // of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget { return &Budget{size: size} }

// Acquire takes n bytes, waiting until they are free or ctx ends.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	if n > b.size {
		return fmt.Errorf("an upload part of %d bytes exceeds the upload memory budget of %d bytes", n, b.size)
	}
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: hand it back
			b.used -= n
			b.notify()
		default:
			b.waiters.Remove(elem)
			b.notify() // the front may have changed
		}
		b.mu.Unlock()
		return ctx.Err()
	}
}

// Release gives back n bytes taken with Acquire.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.notify()
	b.mu.Unlock()
}

// notify grants waiters in order while they fit; the caller holds b.mu.
func (b *Budget) notify() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if b.used+w.n > b.size {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}
