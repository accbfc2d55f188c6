// Package callbacktest has a webhook recorder for the tests of the packages that queue
// asset.access events: it stands where the callback pool would, and keeps what was queued.
package callbacktest

import (
	"context"
	"sync"

	"github.com/assetgateway/assetgateway/internal/callback"
)

// Recorder keeps every event queued through it (a proxy.Notifier). The zero value is ready.
type Recorder struct {
	mu      sync.Mutex
	events  []callback.Event
	targets []string
}

// Enqueue records ev as queued for target.
func (r *Recorder) Enqueue(_ context.Context, target string, ev callback.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.targets = append(r.targets, target)
	return nil
}

// Events returns every event recorded so far, in order.
func (r *Recorder) Events() []callback.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]callback.Event(nil), r.events...)
}

// To returns the events recorded for target, in order.
func (r *Recorder) To(target string) []callback.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []callback.Event
	for i, ev := range r.events {
		if r.targets[i] == target {
			out = append(out, ev)
		}
	}
	return out
}

// Reset forgets every event recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events, r.targets = nil, nil
}
