package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// Cases about hits: consuming, refunding, admitting, notifying.

func testHeadNeverConsumes(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	for _, method := range []string{token.MethodGet, token.MethodPut} {
		t.Run(method, func(t *testing.T) {
			tok := newToken()
			mustCreate(t, s, tok, record(clock, method, 1))
			for i := range 5 {
				g, err := s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1})
				if err != nil {
					t.Fatalf("HEAD %d: %v", i, err)
				}
				if g.Consumed {
					t.Fatalf("HEAD %d consumed a hit", i)
				}
			}
			if _, err := s.Access(ctx, tok, token.Request{Method: method, ContentLength: -1}); err != nil {
				t.Fatalf("%s after HEADs: %v", method, err)
			}
			// No hits left: HEAD is still never refused for hits.
			if _, err := s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1}); err != nil {
				t.Fatalf("HEAD with no hits left: %v", err)
			}
			if got := mustGet(t, s, tok).UsedHits; got != 1 {
				t.Fatalf("used_hits: got %d, want 1", got)
			}
		})
	}
}

func testUnlimited(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	tok := newToken()
	mustCreate(t, s, tok, record(clock, token.MethodGet, token.Unlimited))
	for i := 1; i <= 25; i++ {
		g, err := s.Access(context.Background(), tok, token.Request{Method: token.MethodGet, ContentLength: -1})
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		if !g.Consumed || g.Record.UsedHits != int64(i) {
			t.Fatalf("GET %d: consumed %v used %d, want true %d", i, g.Consumed, g.Record.UsedHits, i)
		}
	}
}

func testSizeLimit(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	cases := []struct {
		name          string
		size, length  int64
		want          error
		wantConsumed  bool
		wantUsedAfter int64
	}{
		{"under", 100, 99, nil, true, 1},
		{"exact", 100, 100, nil, true, 1},
		{"over", 100, 101, token.ErrSizeExceeded, false, 0},
		{"unknown length", 100, -1, nil, true, 1},
		{"unlimited", token.Unlimited, 1 << 40, nil, true, 1},
		{"zero limit empty body", 0, 0, nil, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := newToken()
			rec := record(clock, token.MethodPut, 1)
			rec.Size = c.size
			mustCreate(t, s, tok, rec)
			g, err := s.Access(context.Background(), tok, token.Request{Method: token.MethodPut, ContentLength: c.length})
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if err == nil && g.Consumed != c.wantConsumed {
				t.Fatalf("consumed: got %v, want %v", g.Consumed, c.wantConsumed)
			}
			if got := mustGet(t, s, tok).UsedHits; got != c.wantUsedAfter {
				t.Fatalf("used_hits: got %d, want %d", got, c.wantUsedAfter)
			}
		})
	}
}

// testConcurrentConsume: 1000 concurrent GETs on max_hits=3 → exactly 3 succeed.
func testConcurrentConsume(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	tok := newToken()
	mustCreate(t, s, tok, record(clock, token.MethodGet, 3))
	ConsumeConcurrently(t, []token.Store{s}, tok, 1000, 3)
}

// ConsumeConcurrently fires n GET accesses at tok, spread over stores (replicas sharing one
// backend), and checks that exactly want succeed and the rest are refused for hits.
func ConsumeConcurrently(t *testing.T, stores []token.Store, tok string, n, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ok, refused atomic.Int64
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func(s token.Store) {
			defer wg.Done()
			<-start
			_, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, token.ErrHitsExceeded):
				refused.Add(1)
			default:
				errs <- err
			}
		}(stores[i%len(stores)])
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	if ok.Load() != int64(want) || refused.Load() != int64(n-want) {
		t.Fatalf("got %d served and %d refused, want %d and %d", ok.Load(), refused.Load(), want, n-want)
	}
	if got := mustGet(t, stores[0], tok).UsedHits; got != int64(want) {
		t.Fatalf("used_hits: got %d, want %d", got, want)
	}
}

func testRefund(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok := newToken()
	mustCreate(t, s, tok, record(clock, token.MethodPut, 1))

	g, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	wantErr(t, "second PUT while the first holds the hit", err, token.ErrHitsExceeded)

	for i := range 3 {
		if err := s.Refund(ctx, g); err != nil {
			t.Fatalf("Refund %d: %v", i, err)
		}
		if got := mustGet(t, s, tok).UsedHits; got != 0 {
			t.Fatalf("used_hits after refund %d: got %d, want 0", i, got)
		}
	}
	g2, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	if err != nil {
		t.Fatalf("PUT after refund: %v", err)
	}
	// A refund of the first grant, again, must not hand back the second grant's hit.
	if err := s.Refund(ctx, g); err != nil {
		t.Fatalf("stale Refund: %v", err)
	}
	if got := mustGet(t, s, tok).UsedHits; got != 1 {
		t.Fatalf("used_hits after a stale refund: got %d, want 1", got)
	}
	// HEAD grants consumed nothing; refunding them is a no-op.
	h, err := s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1})
	if err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	if err := s.Refund(ctx, h); err != nil {
		t.Fatalf("Refund HEAD: %v", err)
	}
	if got := mustGet(t, s, tok).UsedHits; got != 1 {
		t.Fatalf("used_hits after refunding a HEAD: got %d, want 1", got)
	}
	_ = g2
}

func testRefundAfterRecreate(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok := newToken()
	mustCreate(t, s, tok, record(clock, token.MethodGet, 5))
	g, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// Refund after delete must not re-create the record.
	if err := s.Refund(ctx, g); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	_, err = s.Get(ctx, tok)
	wantErr(t, "Get after refunding a deleted token", err, token.ErrNotFound)

	// Re-minted under the same token: an old grant's refund must not touch it.
	mustCreate(t, s, tok, record(clock, token.MethodGet, 5))
	g1, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	if err != nil {
		t.Fatalf("GET on the new record: %v", err)
	}
	if err := s.Refund(ctx, g); err != nil {
		t.Fatalf("stale Refund: %v", err)
	}
	if got := mustGet(t, s, tok).UsedHits; got != 1 {
		t.Fatalf("used_hits: got %d, want 1", got)
	}
	_ = g1
}

// testAdmitBeforeAnything: a record that constrains its clients (ip; content_types for a PUT)
// is judged by Request.Admit before anything is checked or consumed: a refused client gets
// Admit's error whatever the token's state (exhausted, expired), and reserves no hit; an
// admitted one is accessed as usual. Records without constraints need no admission.
func testAdmitBeforeAnything(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	errOutside := errors.New("client outside the token's addresses")
	refuse := func(*token.Record) error { return errOutside }
	var judged []string
	admit := func(r *token.Record) error { judged = append(judged, r.Key); return nil }

	tok := newToken()
	rec := record(clock, token.MethodGet, 1)
	rec.IPs = []string{"10.0.0.0/8"}
	mustCreate(t, s, tok, rec)
	for i := range 3 {
		_, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1, Admit: refuse})
		wantErr(t, fmt.Sprintf("refused GET %d", i), err, errOutside)
	}
	if got := mustGet(t, s, tok).UsedHits; got != 0 {
		t.Fatalf("used_hits after refused clients: got %d, want 0", got)
	}
	g, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1, Admit: admit})
	if err != nil || !g.Consumed || len(judged) == 0 || judged[len(judged)-1] != rec.Key {
		t.Fatalf("admitted GET = %+v, %v (judged %v); want a consumed hit after admission", g, err, judged)
	}
	// Exhausted, then expired: a refused client still learns only Admit's answer.
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1, Admit: refuse})
	wantErr(t, "refused GET on an exhausted token", err, errOutside)
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1, Admit: admit})
	wantErr(t, "admitted GET on an exhausted token", err, token.ErrHitsExceeded)
	clock.Advance(31 * time.Minute)
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1, Admit: refuse})
	wantErr(t, "refused HEAD on an expired token", err, errOutside)

	// content_types constrain a PUT only.
	put := newToken()
	prec := record(clock, token.MethodPut, 1)
	prec.ContentTypes = []string{"image/png"}
	mustCreate(t, s, put, prec)
	_, err = s.Access(ctx, put, token.Request{Method: token.MethodPut, ContentLength: 10, Admit: refuse})
	wantErr(t, "refused PUT", err, errOutside)
	if _, err := s.Access(ctx, put, token.Request{Method: token.MethodHead, ContentLength: -1, Admit: refuse}); err != nil {
		t.Fatalf("HEAD on a PUT token with content_types: %v (the types do not constrain a HEAD)", err)
	}
	if got := mustGet(t, s, put).UsedHits; got != 0 {
		t.Fatalf("used_hits after a refused PUT: got %d, want 0", got)
	}
}

// testHeadNotify: HEAD costs no hit, so it fires a token's webhook at most once per
// token.HeadNotifyInterval; GET fires it every time; a token without a callback never asks.
func testHeadNotify(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok := newToken()
	rec := record(clock, token.MethodGet, token.Unlimited)
	rec.Callback = "https://example.com/hook"
	mustCreate(t, s, tok, rec)
	head := func() bool {
		t.Helper()
		g, err := s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1})
		if err != nil {
			t.Fatalf("HEAD: %v", err)
		}
		return g.Notify
	}
	if !head() {
		t.Fatal("the first HEAD does not notify")
	}
	for i := range 5 {
		if head() {
			t.Fatalf("HEAD %d within the interval notifies again", i)
		}
	}
	for i := range 3 {
		g, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
		if err != nil || !g.Notify {
			t.Fatalf("GET %d = %+v, %v; want a notifying grant", i, g, err)
		}
	}
	clock.Advance(token.HeadNotifyInterval)
	if !head() {
		t.Fatal("a HEAD after the interval does not notify")
	}
	silent := newToken()
	mustCreate(t, s, silent, record(clock, token.MethodGet, token.Unlimited))
	if g, err := s.Access(ctx, silent, token.Request{Method: token.MethodHead, ContentLength: -1}); err != nil || g.Notify {
		t.Fatalf("HEAD without a callback = %+v, %v; want no notification", g, err)
	}
}
