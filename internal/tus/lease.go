package tus

import (
	"context"
	"errors"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// errLeaseLost cancels a writer's work when its lock is no longer its own.
var errLeaseLost = errors.New("the upload's lock was lost")

// lease keeps a writer's lock while it works: a goroutine of its own renews it every ttl/3,
// and cancels the work (cause errLeaseLost) once the lock is another's, or the store could not
// confirm it for two thirds of a lease. release stops the goroutine and waits for it.
type lease struct {
	stop chan struct{}
	done chan struct{}
}

// hold starts renewing holder's lock on an upload for ttl.
func (h *Handler) hold(cancel context.CancelCauseFunc, tokenID, id, holder string, ttl time.Duration) *lease {
	l := &lease{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		confirmed := time.Now()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
			ctx, stop := context.WithTimeout(context.Background(), ttl/3)
			ok, err := h.store.LockUpload(ctx, tokenID, id, holder, ttl)
			stop()
			switch {
			case err == nil && ok:
				confirmed = time.Now()
			case err == nil, errors.Is(err, token.ErrNotFound), time.Since(confirmed) > ttl*2/3:
				cancel(errLeaseLost)
				return
			}
		}
	}()
	return l
}

func (l *lease) release() {
	close(l.stop)
	<-l.done
}
