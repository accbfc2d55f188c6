// Package storetest is the contract every token.Store passes: the same cases run against the
// embedded MemoryStore and a RedisStore on a real redis-server (and a Redis Cluster), tokens
// (storetest.go) and upload sessions (uploads.go) alike.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// Clock is a settable clock shared by a test and the store under test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to the real time (so Redis TTLs, which follow Redis's own
// clock, agree with it).
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set sets the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Factory returns a new, empty store that reads time from clock and keeps records for
// retention after expiry. The store is closed when t ends.
type Factory func(t *testing.T, clock *Clock, retention time.Duration) token.Store

// Run runs the whole contract against the stores newStore builds.
func Run(t *testing.T, newStore Factory) {
	cases := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"CreateGet", testCreateGet},
		{"CreateConflict", testCreateConflict},
		{"Unknown", testUnknown},
		{"Delete", testDelete},
		{"MethodRules", testMethodRules},
		{"CheckOrder", testCheckOrder},
		{"HeadNeverConsumes", testHeadNeverConsumes},
		{"Unlimited", testUnlimited},
		{"SizeLimit", testSizeLimit},
		{"ConcurrentConsume", testConcurrentConsume},
		{"Refund", testRefund},
		{"RefundAfterRecreate", testRefundAfterRecreate},
		{"MarkUploaded", testMarkUploaded},
		{"Expiry", testExpiry},
		{"Retention", testRetention},
		{"CreateMany", testCreateMany},
		{"AdmitBeforeAnything", testAdmitBeforeAnything},
		{"HeadNotify", testHeadNotify},
	}
	cases = append(cases, uploadCases...)
	cases = append(cases, byIDCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newStore) })
	}
}

var tokenSeq atomic.Int64

// newToken returns a well-formed token unique within the test binary.
func newToken() string {
	return fmt.Sprintf("storetest-token-%08d-%s", tokenSeq.Add(1), token.Generate()[:8])
}

func record(clock *Clock, method string, maxHits int64) token.Record {
	return token.Record{
		Bucket:   "local",
		Key:      "videos/demo.mp4",
		Method:   method,
		ExpireAt: clock.Now().Add(30 * time.Minute).Unix(),
		MaxHits:  maxHits,
		Size:     token.Unlimited,
	}
}

func mustCreate(t *testing.T, s token.Store, tok string, rec token.Record) {
	t.Helper()
	if err := s.Create(context.Background(), tok, rec); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

func mustGet(t *testing.T, s token.Store, tok string) token.Record {
	t.Helper()
	rec, err := s.Get(context.Background(), tok)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return rec
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

func testCreateGet(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	cases := []struct {
		name string
		rec  token.Record
	}{
		{"defaults", record(clock, token.MethodGet, token.Unlimited)},
		{"every field", token.Record{
			Bucket: "prod-assets", Key: "uploads/報告 2024.pdf", Filename: "report \"final\".pdf",
			Method: token.MethodPut, ExpireAt: clock.Now().Add(time.Hour).Unix(), MaxHits: 1,
			Size: 10 << 20, Callback: "https://example.com/hook?a=1&b=2",
		}},
		{"head token", record(clock, token.MethodHead, 5)},
		{"issue-7 fields", token.Record{
			Bucket: "prod-assets", Prefix: "hls/show-1/", Method: token.MethodGet, Delivery: token.DeliveryRedirect,
			ExpireAt: clock.Now().Add(time.Hour).Unix(), MaxHits: token.Unlimited, Size: token.Unlimited,
			IPs: []string{"10.0.0.0/8", "2001:db8::/32"}, Disposition: "inline", CacheControl: "private, max-age=60",
		}},
		{"upload constraints", token.Record{
			Bucket: "b", Key: "u/photo.png", Method: token.MethodPut, ExpireAt: clock.Now().Add(time.Hour).Unix(),
			MaxHits: 1, Size: 1 << 20, ContentTypes: []string{"image/png", "image/*"},
			SHA256:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Metadata:    map[string]string{"owner": "user-42", "x-y": "a b"},
			IfNoneMatch: true,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := newToken()
			mustCreate(t, s, tok, c.rec)
			got := mustGet(t, s, tok)
			if !reflect.DeepEqual(got, c.rec) {
				t.Fatalf("Get: got %+v, want %+v", got, c.rec)
			}
			g, err := s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1})
			if err != nil {
				t.Fatalf("Access HEAD: %v", err)
			}
			if !reflect.DeepEqual(g.Record, c.rec) {
				t.Fatalf("Access record: got %+v, want %+v", g.Record, c.rec)
			}
		})
	}
}

func testCreateConflict(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	tok := newToken()
	first := record(clock, token.MethodGet, 3)
	mustCreate(t, s, tok, first)
	second := record(clock, token.MethodPut, 1)
	second.Key = "other"
	wantErr(t, "second Create", s.Create(context.Background(), tok, second), token.ErrExists)
	if got := mustGet(t, s, tok); !reflect.DeepEqual(got, first) {
		t.Fatalf("record after conflict: got %+v, want the first %+v", got, first)
	}
}

func testUnknown(t *testing.T, newStore Factory) {
	s := newStore(t, NewClock(), time.Hour)
	ctx := context.Background()
	tok := newToken()
	_, err := s.Get(ctx, tok)
	wantErr(t, "Get", err, token.ErrNotFound)
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	wantErr(t, "Access", err, token.ErrNotFound)
	wantErr(t, "Delete", s.Delete(ctx, tok), token.ErrNotFound)
}

func testDelete(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok := newToken()
	mustCreate(t, s, tok, record(clock, token.MethodGet, token.Unlimited))
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Get(ctx, tok)
	wantErr(t, "Get after Delete", err, token.ErrNotFound)
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	wantErr(t, "Access after Delete", err, token.ErrNotFound)
	wantErr(t, "second Delete", s.Delete(ctx, tok), token.ErrNotFound)
	// The token can be minted again.
	mustCreate(t, s, tok, record(clock, token.MethodGet, token.Unlimited))
}

func testMethodRules(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	cases := []struct {
		token, request string
		want           error
	}{
		{"GET", "GET", nil}, {"GET", "HEAD", nil}, {"GET", "PUT", token.ErrMethodNotAllowed},
		{"PUT", "PUT", nil}, {"PUT", "HEAD", nil}, {"PUT", "GET", token.ErrMethodNotAllowed},
		{"HEAD", "HEAD", nil}, {"HEAD", "GET", token.ErrMethodNotAllowed}, {"HEAD", "PUT", token.ErrMethodNotAllowed},
		{"GET", "DELETE", token.ErrMethodNotAllowed}, {"GET", "POST", token.ErrMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.token+" token "+c.request, func(t *testing.T) {
			tok := newToken()
			mustCreate(t, s, tok, record(clock, c.token, token.Unlimited))
			_, err := s.Access(context.Background(), tok, token.Request{Method: c.request, ContentLength: -1})
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// testCheckOrder: unknown → 404, expired → 410, method → 405, hits → 409, size → 413.
func testCheckOrder(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()

	// Expired beats method and hits.
	tok := newToken()
	rec := record(clock, token.MethodPut, 1)
	rec.Size = 10
	mustCreate(t, s, tok, rec)
	if _, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: 5}); err != nil {
		t.Fatalf("first PUT: %v", err)
	}
	// Now hits are used up and 100 > size: hits must be reported first.
	_, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: 100})
	wantErr(t, "PUT with no hits and too large", err, token.ErrHitsExceeded)
	// Method beats hits.
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	wantErr(t, "GET on a used-up PUT token", err, token.ErrMethodNotAllowed)
	// Expired beats method.
	clock.Advance(31 * time.Minute)
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	wantErr(t, "GET on an expired PUT token", err, token.ErrExpired)
	_, err = s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1})
	wantErr(t, "HEAD on an expired token", err, token.ErrExpired)
}

func testMarkUploaded(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok := newToken()
	mustCreate(t, s, tok, record(clock, token.MethodPut, 1))
	g, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	if mustGet(t, s, tok).Uploaded {
		t.Fatal("uploaded before MarkUploaded")
	}
	if err := s.MarkUploaded(ctx, g); err != nil {
		t.Fatalf("MarkUploaded: %v", err)
	}
	if got := mustGet(t, s, tok); !got.Uploaded || got.UsedHits != 1 {
		t.Fatalf("after MarkUploaded: got uploaded %v used %d, want true 1", got.Uploaded, got.UsedHits)
	}
	// Marking a deleted record must not re-create it.
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.MarkUploaded(ctx, g); err != nil {
		t.Fatalf("MarkUploaded after Delete: %v", err)
	}
	_, err = s.Get(ctx, tok)
	wantErr(t, "Get after marking a deleted record", err, token.ErrNotFound)
}

func testExpiry(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok := newToken()
	rec := record(clock, token.MethodGet, token.Unlimited)
	rec.ExpireAt = clock.Now().Unix() + 60
	mustCreate(t, s, tok, rec)
	if _, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1}); err != nil {
		t.Fatalf("GET before expiry: %v", err)
	}
	clock.Set(time.Unix(rec.ExpireAt, 0).Add(-time.Millisecond))
	if _, err := s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1}); err != nil {
		t.Fatalf("HEAD a millisecond before expire_at: %v", err)
	}
	// Expired from the expire_at instant on.
	clock.Set(time.Unix(rec.ExpireAt, 0))
	_, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	wantErr(t, "GET at expire_at", err, token.ErrExpired)
	// Still readable through the control API during retention, with its count intact.
	if got := mustGet(t, s, tok); got.UsedHits != 1 {
		t.Fatalf("expired record: got used %d, want 1", got.UsedHits)
	}
}

func testRetention(t *testing.T, newStore Factory) {
	clock := NewClock()
	ctx := context.Background()
	t.Run("within retention", func(t *testing.T) {
		s := newStore(t, clock, time.Hour)
		tok := newToken()
		rec := record(clock, token.MethodGet, 1)
		rec.ExpireAt = clock.Now().Unix() - 10
		mustCreate(t, s, tok, rec)
		if got := mustGet(t, s, tok); !reflect.DeepEqual(got, rec) {
			t.Fatalf("got %+v, want %+v", got, rec)
		}
		_, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
		wantErr(t, "Access", err, token.ErrExpired)
	})
	t.Run("past retention", func(t *testing.T) {
		s := newStore(t, clock, 5*time.Second)
		tok := newToken()
		rec := record(clock, token.MethodGet, 1)
		rec.ExpireAt = clock.Now().Unix() - 10
		mustCreate(t, s, tok, rec)
		_, err := s.Get(ctx, tok)
		wantErr(t, "Get past retention", err, token.ErrNotFound)
		// Gone means gone: the token can be minted again.
		rec.ExpireAt = clock.Now().Unix() + 60
		mustCreate(t, s, tok, rec)
	})
}

func testCreateMany(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	taken := newToken()
	mustCreate(t, s, taken, record(clock, token.MethodGet, 1))
	var items []token.Item
	for i := range 300 {
		rec := record(clock, token.MethodGet, int64(i+1))
		rec.Key = fmt.Sprintf("batch/%03d", i)
		items = append(items, token.Item{Token: newToken(), Record: rec})
	}
	items[7].Token = taken
	results, err := s.CreateMany(context.Background(), items)
	if err != nil {
		t.Fatalf("CreateMany: %v", err)
	}
	for i, r := range results {
		switch {
		case i == 7 && !errors.Is(r, token.ErrExists):
			t.Fatalf("item 7 (a taken token): got %v, want ErrExists", r)
		case i != 7 && r != nil:
			t.Fatalf("item %d: %v", i, r)
		}
	}
	if got := mustGet(t, s, items[299].Token); !reflect.DeepEqual(got, items[299].Record) {
		t.Fatalf("a batched record: got %+v, want %+v", got, items[299].Record)
	}
	if got := mustGet(t, s, taken); got.MaxHits != 1 {
		t.Fatalf("the taken token was overwritten: %+v", got)
	}
}
