package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/token/storetest"
)

// newWaitStore returns a store on primary that waits for replicas acknowledgements.
func newWaitStore(t *testing.T, primary string, clock *storetest.Clock, retention time.Duration, replicas int, wait time.Duration) *token.RedisStore {
	t.Helper()
	c := token.NewRedisClient(token.ClientOptions{Addr: primary, Timeout: concurrentTimeout})
	s := token.NewRedisStore(token.RedisOptions{Client: c, KeyPrefix: "test:", Retention: retention, Now: clock.Now,
		WaitReplicas: replicas, WaitTimeout: wait})
	t.Cleanup(func() { s.Close() })
	return s
}

// startPair starts a primary and a replica of it, in sync.
func startPair(t *testing.T) (primary, replica *testenv.Redis) {
	t.Helper()
	primary = testenv.StartRedis(t, "--repl-diskless-sync-delay", "0")
	host, port := splitAddr(t, primary.Addr)
	replica = testenv.StartRedis(t, "--replicaof", host, port)
	// The replica is usable once the primary counts it as connected and acknowledging.
	c := token.NewRedisClient(token.ClientOptions{Addr: primary.Addr, Timeout: time.Second})
	defer c.Close()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.Set(ctx, "test:sync", "1", 0)
		if n, err := c.Do(ctx, "WAIT", 1, 100).Int(); err == nil && n == 1 {
			return primary, replica
		}
		if time.Now().After(deadline) {
			t.Fatal("replica not in sync after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	t.Fatalf("no port in %q", addr)
	return "", ""
}

// TestRedisStoreWaitContract runs the whole store contract with WaitReplicas on and a healthy
// replica: waiting changes nothing while replicas keep up.
func TestRedisStoreWaitContract(t *testing.T) {
	primary, _ := startPair(t)
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock, retention time.Duration) token.Store {
		return newWaitStore(t, primary.Addr, clock, retention, 1, 500*time.Millisecond)
	})
}

// TestRedisStoreWaitFailsClosed: once the replica is gone, every write that grants or revokes
// access fails with ErrUnavailable within the wait timeout and is undone where it can be;
// refusals and HEAD, which write nothing, answer at once as before.
func TestRedisStoreWaitFailsClosed(t *testing.T) {
	primary, replica := startPair(t)
	clock := storetest.NewClock()
	const wait = 300 * time.Millisecond
	s := newWaitStore(t, primary.Addr, clock, time.Hour, 1, wait)
	plain := newWaitStore(t, primary.Addr, clock, time.Hour, 0, 0) // reads what the primary holds
	ctx := context.Background()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodGet, MaxHits: 1, Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
	used := token.Generate()
	spent := token.Generate()
	revoke := token.Generate()
	for _, tok := range []string{used, spent, revoke} {
		if err := s.Create(ctx, tok, rec); err != nil {
			t.Fatalf("Create with the replica up: %v", err)
		}
	}
	if _, err := s.Access(ctx, spent, token.Request{Method: token.MethodGet, ContentLength: -1}); err != nil {
		t.Fatalf("Access with the replica up: %v", err)
	}

	replica.Stop()

	timed := func(name string, f func() error) error {
		t.Helper()
		start := time.Now()
		err := f()
		if d := time.Since(start); d > wait+time.Second {
			t.Errorf("%s took %s, want at most the wait timeout (%s) plus a second", name, d, wait)
		}
		return err
	}
	// A consumed hit is not confirmed: no grant, and the hit is handed back on the primary.
	err := timed("Access", func() error {
		g, err := s.Access(ctx, used, token.Request{Method: token.MethodGet, ContentLength: -1})
		if g != nil {
			t.Error("Access returned a grant although the hit was not replicated")
		}
		return err
	})
	if !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Access without replicas: got %v, want ErrUnavailable", err)
	}
	if got, err := plain.Get(ctx, used); err != nil || got.UsedHits != 0 {
		t.Fatalf("after the failed access: got used_hits %d (%v), want 0 (refunded)", got.UsedHits, err)
	}
	// A new record is not confirmed: it is taken back, so the token can be minted again.
	fresh := token.Generate()
	if err := timed("Create", func() error { return s.Create(ctx, fresh, rec) }); !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Create without replicas: got %v, want ErrUnavailable", err)
	}
	if _, err := plain.Get(ctx, fresh); !errors.Is(err, token.ErrNotFound) {
		t.Fatalf("after the failed create: got %v, want ErrNotFound (record removed)", err)
	}
	// A revocation is not confirmed: the caller is told to retry.
	if err := timed("Delete", func() error { return s.Delete(ctx, revoke) }); !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Delete without replicas: got %v, want ErrUnavailable", err)
	}
	// Nothing written, nothing waited for: refusals and HEAD answer at once.
	for _, tc := range []struct {
		name   string
		tok    string
		method string
		want   error
	}{
		{"hits exceeded", spent, token.MethodGet, token.ErrHitsExceeded},
		{"unknown", token.Generate(), token.MethodGet, token.ErrNotFound},
		{"method", used, token.MethodPut, token.ErrMethodNotAllowed},
		{"head", used, token.MethodHead, nil},
	} {
		start := time.Now()
		_, err := s.Access(ctx, tc.tok, token.Request{Method: tc.method, ContentLength: -1})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if d := time.Since(start); d >= wait {
			t.Errorf("%s: took %s, want no wait (under %s)", tc.name, d, wait)
		}
	}
}
