package tus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// leaseStore answers LockUpload as told and counts the calls.
type leaseStore struct {
	Store
	mu    sync.Mutex
	calls int
	ok    bool
	err   error
}

func (s *leaseStore) LockUpload(ctx context.Context, tokenID, id, holder string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.ok, s.err
}

func (s *leaseStore) set(ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ok, s.err = ok, err
}

func (s *leaseStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// TestLease: the lease is renewed while the work goes on, survives a store that fails for
// less than two thirds of a lease, and cancels the work once the lock is another's or the
// store stays silent; release stops its goroutine.
func TestLease(t *testing.T) {
	const ttl = 60 * time.Millisecond
	cases := []struct {
		name string
		ok   bool
		err  error
	}{
		{"lock taken by another", false, nil},
		{"store unreachable", false, errors.New("redis down (test)")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &leaseStore{ok: true}
			h := New(Options{Store: s})
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			l := h.hold(cancel, "token", "upload", "holder", ttl)
			deadline := time.Now().Add(5 * time.Second)
			for s.count() < 3 {
				if time.Now().After(deadline) {
					t.Fatal("the lease was not renewed")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if ctx.Err() != nil {
				t.Fatalf("work cancelled while the lease holds: %v", context.Cause(ctx))
			}
			s.set(c.ok, c.err)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the work was not cancelled")
			}
			if !errors.Is(context.Cause(ctx), errLeaseLost) {
				t.Errorf("cause %v, want errLeaseLost", context.Cause(ctx))
			}
			l.release()
		})
	}
	t.Run("release", func(t *testing.T) {
		s := &leaseStore{ok: true}
		h := New(Options{Store: s})
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		l := h.hold(cancel, "token", "upload", "holder", time.Hour)
		l.release() // returns at once: the goroutine is gone
		if ctx.Err() != nil || s.count() != 0 {
			t.Fatalf("release: ctx %v, %d renewals", ctx.Err(), s.count())
		}
	})
}
