package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// InstrumentStore wraps a token store and times every call, and counts consumed and refunded
// hits. Refused accesses (unknown, expired, no hits…) are answers, not failures: only
// ErrUnavailable counts as "error".
func (m *Metrics) InstrumentStore(s token.Store) token.Store {
	if m == nil {
		return s
	}
	return &timedStore{Store: s, m: m}
}

type timedStore struct {
	token.Store
	m *Metrics
}

func (t *timedStore) observe(ctx context.Context, op string, start time.Time, err error) {
	d := time.Since(start)
	if err != nil && !errors.Is(err, token.ErrUnavailable) && ctx.Err() == nil {
		err = nil // an answer (unknown, expired, no hits, …), not a failure
	}
	t.m.Store(op, d, err)
	if tm := timingFrom(ctx); tm != nil {
		tm.store.Add(int64(d))
	}
}

func (t *timedStore) Create(ctx context.Context, tok string, rec token.Record) error {
	start := time.Now()
	err := t.Store.Create(ctx, tok, rec)
	t.observe(ctx, "create", start, err)
	return err
}

func (t *timedStore) Get(ctx context.Context, tok string) (token.Record, error) {
	start := time.Now()
	rec, err := t.Store.Get(ctx, tok)
	t.observe(ctx, "get", start, err)
	return rec, err
}

func (t *timedStore) Delete(ctx context.Context, tok string) error {
	start := time.Now()
	err := t.Store.Delete(ctx, tok)
	t.observe(ctx, "delete", start, err)
	return err
}

func (t *timedStore) Access(ctx context.Context, tok string, req token.Request) (*token.Grant, error) {
	start := time.Now()
	g, err := t.Store.Access(ctx, tok, req)
	t.observe(ctx, "access", start, err)
	if g != nil && g.Consumed {
		t.m.Hit("consumed")
	}
	return g, err
}

func (t *timedStore) GetID(ctx context.Context, id string) (token.Record, error) {
	start := time.Now()
	rec, err := t.Store.GetID(ctx, id)
	t.observe(ctx, "get", start, err)
	return rec, err
}

func (t *timedStore) AccessID(ctx context.Context, id string, req token.Request) (*token.Grant, error) {
	start := time.Now()
	g, err := t.Store.AccessID(ctx, id, req)
	t.observe(ctx, "access", start, err)
	if g != nil && g.Consumed {
		t.m.Hit("consumed")
	}
	return g, err
}

func (t *timedStore) Refund(ctx context.Context, g *token.Grant) error {
	start := time.Now()
	err := t.Store.Refund(ctx, g)
	t.observe(ctx, "refund", start, err)
	if err == nil && g.Consumed {
		t.m.Hit("refunded")
	}
	return err
}

func (t *timedStore) MarkUploaded(ctx context.Context, g *token.Grant) error {
	start := time.Now()
	err := t.Store.MarkUploaded(ctx, g)
	t.observe(ctx, "mark_uploaded", start, err)
	return err
}

// CreateMany times a batch.
func (t *timedStore) CreateMany(ctx context.Context, items []token.Item) ([]error, error) {
	start := time.Now()
	results, err := t.Store.CreateMany(ctx, items)
	t.observe(ctx, "create_many", start, err)
	return results, err
}
