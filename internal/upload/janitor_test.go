package upload_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/token/storetest"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// fakeOwner records the uploads it cleaned up, and fails while fail is set.
type fakeOwner struct {
	mu      sync.Mutex
	cleaned map[string]int
	fail    bool
}

func (o *fakeOwner) Cleanup(ctx context.Context, tokenID string, u token.Upload) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail {
		return errors.New("store unreachable (test)")
	}
	if o.cleaned == nil {
		o.cleaned = map[string]int{}
	}
	o.cleaned[u.ID]++
	return nil
}

func (o *fakeOwner) count(id string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cleaned[id]
}

func (o *fakeOwner) setFail(v bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fail = v
}

// mintUploads mints a PUT token with max_hits n and creates n uploads of kind through it,
// expiring at the given times (one per hit).
func mintUploads(t *testing.T, s token.Store, clock *storetest.Clock, kind string, expires ...time.Time) (string, []token.Upload) {
	t.Helper()
	ctx := context.Background()
	tok := token.Generate()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodPut, MaxHits: int64(len(expires)), Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
	if err := s.Create(ctx, tok, rec); err != nil {
		t.Fatal(err)
	}
	var out []token.Upload
	for _, at := range expires {
		g, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.CreateUpload(ctx, g, token.Upload{Kind: kind, Bucket: "b", Key: "k", Length: 10, ExpiresAt: at.UnixMilli(), Hit: true})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return tok, out
}

// TestJanitorSweep: a sweep ends exactly the due uploads its owners can end, deleting their
// records and handing back their hits; the others wait for a later sweep.
func TestJanitorSweep(t *testing.T) {
	clock := storetest.NewClock()
	s := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour, Now: clock.Now})
	defer s.Close()
	ctx := context.Background()
	now := clock.Now()
	tusOwner, failing := &fakeOwner{}, &fakeOwner{fail: true}
	j := upload.NewJanitor(upload.JanitorOptions{Store: s, Interval: time.Hour, Now: clock.Now,
		Owners: map[string]upload.Owner{"tus": tusOwner, "fail": failing}})
	tok, ups := mintUploads(t, s, clock, "tus", now.Add(-time.Second), now.Add(10*time.Minute))
	_, fails := mintUploads(t, s, clock, "fail", now.Add(-time.Second))
	strayTok, strays := mintUploads(t, s, clock, "unknown", now.Add(-time.Second))

	n, err := j.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Sweep: ended %d, %v; want 1", n, err)
	}
	if tusOwner.count(ups[0].ID) != 1 || tusOwner.count(ups[1].ID) != 0 {
		t.Fatalf("cleaned: %v, want only the due upload", tusOwner.cleaned)
	}
	if _, _, err := s.Upload(ctx, token.ID(tok), ups[0].ID); !errors.Is(err, token.ErrUploadNotFound) {
		t.Fatalf("the ended upload's record: %v, want gone", err)
	}
	if rec, _ := s.Get(ctx, tok); rec.UsedHits != 1 {
		t.Fatalf("used_hits after ending one of two uploads: %d, want 1 (its hit handed back)", rec.UsedHits)
	}
	// Failed and ownerless uploads stay, claimed for a while, then come back.
	if n, err := j.Sweep(ctx); n != 0 || err != nil {
		t.Fatalf("second Sweep: %d, %v; want nothing", n, err)
	}
	failing.setFail(false)
	clock.Advance(token.UploadClaim + time.Second)
	if n, err := j.Sweep(ctx); n != 1 || err != nil || failing.count(fails[0].ID) != 1 {
		t.Fatalf("Sweep after the claim: %d, %v; want the failed upload ended now", n, err)
	}
	clock.Advance(10 * time.Minute) // ups[1] is due now; the stray still has no owner
	if n, err := j.Sweep(ctx); n != 1 || err != nil || tusOwner.count(ups[1].ID) != 1 {
		t.Fatalf("Sweep ten minutes on: %d, %v; want the second tus upload", n, err)
	}
	if _, _, err := s.Upload(ctx, token.ID(strayTok), strays[0].ID); err != nil {
		t.Fatalf("an upload of a kind without owner: %v, want it kept", err)
	}
}

// TestJanitorReplicas: two replicas' janitors sweep one Redis at once; every due upload is
// cleaned up exactly once.
func TestJanitorReplicas(t *testing.T) {
	srv := testenv.StartRedis(t)
	clock := storetest.NewClock()
	var stores []token.Store
	for range 2 {
		c := token.NewRedisClient(token.ClientOptions{Addr: srv.Addr, Timeout: 5 * time.Second})
		s := token.NewRedisStore(token.RedisOptions{Client: c, KeyPrefix: "j:", Retention: time.Hour, Now: clock.Now})
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	const n = 60
	var expires []time.Time
	for i := range n {
		expires = append(expires, clock.Now().Add(-time.Duration(i+1)*time.Second))
	}
	tok, ups := mintUploads(t, stores[0], clock, "tus", expires...)
	owner := &fakeOwner{}
	var wg sync.WaitGroup
	var ended [2]int
	for i, s := range stores {
		j := upload.NewJanitor(upload.JanitorOptions{Store: s, Interval: time.Hour, Batch: 7, Now: clock.Now,
			Owners: map[string]upload.Owner{"tus": owner}})
		wg.Go(func() {
			var err error
			ended[i], err = j.Sweep(context.Background())
			if err != nil {
				t.Errorf("Sweep: %v", err)
			}
		})
	}
	wg.Wait()
	for _, u := range ups {
		if c := owner.count(u.ID); c != 1 {
			t.Errorf("upload %s cleaned up %d times, want once", u.ID, c)
		}
	}
	if ended[0]+ended[1] != n {
		t.Errorf("ended %v, want %d in all", ended, n)
	}
	if rec, err := stores[1].Get(context.Background(), tok); err != nil || rec.UsedHits != 0 {
		t.Errorf("used_hits after every upload ended: %+v, %v; want 0", rec.UsedHits, err)
	}
	t.Logf("replica janitors ended %d and %d uploads", ended[0], ended[1])
}

// TestJanitorRun: Run sweeps on its interval and returns when its context ends.
func TestJanitorRun(t *testing.T) {
	clock := storetest.NewClock()
	s := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour, Now: clock.Now})
	defer s.Close()
	owner := &fakeOwner{}
	j := upload.NewJanitor(upload.JanitorOptions{Store: s, Interval: 10 * time.Millisecond,
		Owners: map[string]upload.Owner{"tus": owner}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	_, ups := mintUploads(t, s, clock, "tus", clock.Now().Add(-time.Second))
	deadline := time.Now().Add(5 * time.Second)
	for owner.count(ups[0].ID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not end a due upload within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s of its context's end")
	}
}
