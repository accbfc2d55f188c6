package metrics

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
)

// InstrumentBackend wraps one bucket alias's backend and times every call. Answers the
// contract defines (missing object, unsatisfiable range, 304, 412) are not failures.
// Optional methods of the backend (CheckKey, Check) stay reachable.
func (m *Metrics) InstrumentBackend(alias string, b objstore.Backend) objstore.Backend {
	if m == nil {
		return b
	}
	return &timedBackend{Backend: b, alias: alias, m: m}
}

type timedBackend struct {
	objstore.Backend
	alias string
	m     *Metrics
}

func (t *timedBackend) observe(ctx context.Context, op string, start time.Time, err error) {
	d := time.Since(start)
	for _, answer := range []error{objstore.ErrObjectNotFound, objstore.ErrRangeNotSatisfiable, objstore.ErrNotModified, objstore.ErrPreconditionFailed} {
		if errors.Is(err, answer) {
			err = nil
			break
		}
	}
	t.m.Upstream(t.alias, op, d, err)
	if tm := timingFrom(ctx); tm != nil {
		tm.upstream.Add(int64(d))
	}
}

func (t *timedBackend) Get(ctx context.Context, key string, o objstore.GetOptions) (*objstore.Object, error) {
	start := time.Now()
	obj, err := t.Backend.Get(ctx, key, o)
	t.observe(ctx, "get", start, err)
	return obj, err
}

func (t *timedBackend) Head(ctx context.Context, key string, c objstore.Conditions) (objstore.ObjectInfo, error) {
	start := time.Now()
	info, err := t.Backend.Head(ctx, key, c)
	t.observe(ctx, "head", start, err)
	return info, err
}

func (t *timedBackend) Put(ctx context.Context, in objstore.PutInput) (objstore.PutResult, error) {
	start := time.Now()
	res, err := t.Backend.Put(ctx, in)
	t.observe(ctx, "put", start, err)
	return res, err
}

func (t *timedBackend) List(ctx context.Context, prefix, after string, limit int) (objstore.ListPage, error) {
	start := time.Now()
	page, err := t.Backend.List(ctx, prefix, after, limit)
	t.observe(ctx, "list", start, err)
	return page, err
}

// Unwrap returns the backend being timed, so optional interfaces (objstore.Presigner,
// objstore.Multipart) are found.
func (t *timedBackend) Unwrap() objstore.Backend { return t.Backend }

// CheckKey forwards to the backend's key check, when it has one.
func (t *timedBackend) CheckKey(key string) error {
	if kc, ok := t.Backend.(interface{ CheckKey(string) error }); ok {
		return kc.CheckKey(key)
	}
	return nil
}

// Check forwards to the backend's reachability check, when it has one.
func (t *timedBackend) Check(ctx context.Context) error {
	if c, ok := t.Backend.(interface{ Check(context.Context) error }); ok {
		return c.Check(ctx)
	}
	return nil
}

// Timing accumulates, for one request, the time spent in the token store and in the object
// store, for its access-log line.
type Timing struct {
	store, upstream atomic.Int64 // nanoseconds
}

// Store is the time spent in token-store calls so far.
func (t *Timing) Store() time.Duration { return time.Duration(t.store.Load()) }

// Upstream is the time spent in object-store calls so far.
func (t *Timing) Upstream() time.Duration { return time.Duration(t.upstream.Load()) }

type timingKey struct{}

// WithTiming returns a context carrying a fresh Timing.
func WithTiming(ctx context.Context) (context.Context, *Timing) {
	t := &Timing{}
	return context.WithValue(ctx, timingKey{}, t), t
}

func timingFrom(ctx context.Context) *Timing {
	t, _ := ctx.Value(timingKey{}).(*Timing)
	return t
}
