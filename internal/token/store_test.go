package token_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/token/storetest"
	"github.com/redis/go-redis/v9"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock, retention time.Duration) token.Store {
		s := token.NewMemoryStore(token.MemoryOptions{Retention: retention, Now: clock.Now})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// concurrentTimeout is the client timeout (and pool wait) of the stores that take the
// contract's 1000 concurrent accesses: queued for a pool of 20 connections on two cores busy
// with the rest of the suite, an access can wait over a second for a connection.
const concurrentTimeout = 5 * time.Second

// newRedisStore returns a store on srv with its own client, as a separate replica would have.
func newRedisStore(t *testing.T, srv *testenv.Redis, clock *storetest.Clock, retention time.Duration) *token.RedisStore {
	t.Helper()
	return newRedisStoreTimeout(t, srv, clock, retention, time.Second)
}

func newRedisStoreTimeout(t *testing.T, srv *testenv.Redis, clock *storetest.Clock, retention, timeout time.Duration) *token.RedisStore {
	t.Helper()
	c := token.NewRedisClient(token.ClientOptions{Addr: srv.Addr, Timeout: timeout})
	s := token.NewRedisStore(token.RedisOptions{Client: c, KeyPrefix: "test:", Retention: retention, Now: clock.Now})
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedisStore(t *testing.T) {
	srv := testenv.StartRedis(t)
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock, retention time.Duration) token.Store {
		return newRedisStoreTimeout(t, srv, clock, retention, concurrentTimeout)
	})
}

// TestRedisStoreReplicas: 1000 concurrent GETs on max_hits=3 spread over four gateway
// replicas (four clients) sharing one redis-server → exactly 3 succeed.
func TestRedisStoreReplicas(t *testing.T) {
	srv := testenv.StartRedis(t)
	clock := storetest.NewClock()
	var stores []token.Store
	for range 4 {
		stores = append(stores, newRedisStoreTimeout(t, srv, clock, time.Hour, concurrentTimeout))
	}
	tok := token.Generate()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodGet, MaxHits: 3, Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
	if err := stores[0].Create(context.Background(), tok, rec); err != nil {
		t.Fatal(err)
	}
	storetest.ConsumeConcurrently(t, stores, tok, 1000, 3)
}

// TestRedisStoreNeverStoresRawTokens scans every key and value.
func TestRedisStoreNeverStoresRawTokens(t *testing.T) {
	srv := testenv.StartRedis(t)
	clock := storetest.NewClock()
	s := newRedisStore(t, srv, clock, time.Hour)
	ctx := context.Background()
	tok := token.Generate()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodPut, MaxHits: 1, Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
	if err := s.Create(ctx, tok, rec); err != nil {
		t.Fatal(err)
	}
	g, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refund(ctx, g); err != nil {
		t.Fatal(err)
	}
	c := token.NewRedisClient(token.ClientOptions{Addr: srv.Addr, Timeout: time.Second})
	defer c.Close()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("got keys %q, want the record only (a refund writes no key)", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, tok) {
			t.Fatalf("key %q holds the raw token", k)
		}
		if typ := c.Type(ctx, k).Val(); typ == "hash" {
			for f, v := range c.HGetAll(ctx, k).Val() {
				if strings.Contains(f, tok) || strings.Contains(v, tok) {
					t.Fatalf("hash %q field %q holds the raw token", k, f)
				}
			}
		} else if v := c.Get(ctx, k).Val(); strings.Contains(v, tok) {
			t.Fatalf("key %q value holds the raw token", k)
		}
	}
	ttl := c.PTTL(ctx, "test:{"+token.ID(tok)+"}").Val()
	if want := time.Until(time.Unix(rec.ExpireAt, 0).Add(time.Hour)); ttl < want-5*time.Second || ttl > want+5*time.Second {
		t.Fatalf("record TTL: got %s, want about %s (expire_at + retention)", ttl, want)
	}
}

// TestRedisStoreUnavailable: with Redis gone every call fails fast with ErrUnavailable, and
// once it is back the same store serves again without a restart.
func TestRedisStoreUnavailable(t *testing.T) {
	srv := testenv.StartRedis(t)
	clock := storetest.NewClock()
	s := newRedisStore(t, srv, clock, time.Hour)
	ctx := context.Background()
	tok := token.Generate()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodGet, MaxHits: token.Unlimited, Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
	if err := s.Create(ctx, tok, rec); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	_, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	if !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Access with Redis down: got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Access with Redis down took %s, want under 1s", d)
	}
	for name, err := range map[string]error{
		"Create": s.Create(ctx, token.Generate(), rec),
		"Get":    func() error { _, err := s.Get(ctx, tok); return err }(),
		"Delete": s.Delete(ctx, tok),
		"Ping":   s.Ping(ctx),
	} {
		if !errors.Is(err, token.ErrUnavailable) {
			t.Errorf("%s with Redis down: got %v, want ErrUnavailable", name, err)
		}
	}
	srv.Restart(t)
	// The data is gone (no persistence in this test), but the store answers again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
		if errors.Is(err, token.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: got %v, want ErrNotFound from a live store", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisRefundsWriteNoKeys: handing back 1000 hits leaves the database with exactly the
// keys it had (no marker per refund), and the count where it was.
func TestRedisRefundsWriteNoKeys(t *testing.T) {
	srv := testenv.StartRedis(t)
	clock := storetest.NewClock()
	s := newRedisStore(t, srv, clock, time.Hour)
	ctx := context.Background()
	tok := token.Generate()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodGet, MaxHits: 5, Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
	if err := s.Create(ctx, tok, rec); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	before, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		g, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		if err := s.Refund(ctx, g); err != nil {
			t.Fatalf("refund %d: %v", i, err)
		}
	}
	after, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(before)
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Errorf("keys after 1000 refunds: %v, want %v", after, before)
	}
	if got, err := s.Get(ctx, tok); err != nil || got.UsedHits != 0 {
		t.Errorf("used_hits after 1000 refunds: %d, %v; want 0", got.UsedHits, err)
	}
}

// TestRedisStoreUploadKeys: an upload's keys share its token's hash tag and expire with the
// token's record (never before an hour past the upload's expiry); the expiry index is the one
// key outside; nothing holds the raw token.
func TestRedisStoreUploadKeys(t *testing.T) {
	srv := testenv.StartRedis(t)
	clock := storetest.NewClock()
	s := newRedisStore(t, srv, clock, 2*time.Hour)
	ctx := context.Background()
	tok := token.Generate()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodPut, MaxHits: 1, Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
	if err := s.Create(ctx, tok, rec); err != nil {
		t.Fatal(err)
	}
	g, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	if err != nil {
		t.Fatal(err)
	}
	short := token.Upload{Kind: "tus", Bucket: "b", Key: "k", Length: 10, ExpiresAt: clock.Now().Add(time.Minute).UnixMilli(), Hit: true}
	u, err := s.CreateUpload(ctx, g, short)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.LockUpload(ctx, token.ID(tok), u.ID, "writer", time.Minute); !ok || err != nil {
		t.Fatalf("LockUpload: %v %v", ok, err)
	}
	c := token.NewRedisClient(token.ClientOptions{Addr: srv.Addr, Timeout: time.Second})
	defer c.Close()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	tag := "test:{" + token.ID(tok) + "}"
	want := []string{tag, tag + "u:" + u.ID, tag + "l:" + u.ID, tag + "us", "test:{uploads}due"}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("keys: got %q, want %q", keys, want)
	}
	for _, k := range keys {
		if strings.Contains(k, tok) {
			t.Fatalf("key %q holds the raw token", k)
		}
	}
	tokenTTL := time.Until(time.Unix(rec.ExpireAt, 0).Add(2 * time.Hour))
	for _, k := range []string{tag + "u:" + u.ID, tag + "us"} {
		if ttl := c.PTTL(ctx, k).Val(); ttl < tokenTTL-5*time.Second || ttl > tokenTTL+5*time.Second {
			t.Errorf("%s TTL: got %s, want about %s (the token's)", k, ttl, tokenTTL)
		}
	}
	// An upload that outlives its token's record keeps an hour after its own expiry.
	long := short
	long.ExpiresAt = clock.Now().Add(10 * time.Hour).UnixMilli()
	u2, err := s.CreateUpload(ctx, g, long)
	if err != nil {
		t.Fatal(err)
	}
	if ttl, want := c.PTTL(ctx, tag+"u:"+u2.ID).Val(), 11*time.Hour; ttl < want-5*time.Second || ttl > want+5*time.Second {
		t.Errorf("long upload TTL: got %s, want about %s", ttl, want)
	}
}
