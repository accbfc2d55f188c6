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
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock, retention time.Duration) token.Store {
		s := token.NewMemoryStore(token.MemoryOptions{Retention: retention, Now: clock.Now})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// newRedisStore returns a store on srv with its own client, as a separate replica would have.
func newRedisStore(t *testing.T, srv *testenv.Redis, clock *storetest.Clock, retention time.Duration) *token.RedisStore {
	t.Helper()
	c := token.NewRedisClient(token.ClientOptions{Addr: srv.Addr, Timeout: time.Second})
	s := token.NewRedisStore(token.RedisOptions{Client: c, KeyPrefix: "test:", Retention: retention, Now: clock.Now})
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedisStore(t *testing.T) {
	srv := testenv.StartRedis(t)
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock, retention time.Duration) token.Store {
		return newRedisStore(t, srv, clock, retention)
	})
}

// TestRedisStoreReplicas: 1000 concurrent GETs on max_hits=3 spread over four gateway
// replicas (four clients) sharing one redis-server → exactly 3 succeed.
func TestRedisStoreReplicas(t *testing.T) {
	srv := testenv.StartRedis(t)
	clock := storetest.NewClock()
	var stores []token.Store
	for range 4 {
		stores = append(stores, newRedisStore(t, srv, clock, time.Hour))
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
	g, err := s.Access(ctx, tok, token.MethodPut, -1)
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
	if len(keys) != 2 {
		t.Fatalf("got keys %q, want the record and one refund marker", keys)
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
	_, err := s.Access(ctx, tok, token.MethodGet, -1)
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
		_, err = s.Access(ctx, tok, token.MethodGet, -1)
		if errors.Is(err, token.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: got %v, want ErrNotFound from a live store", err)
		}
		time.Sleep(20 * time.Millisecond)
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
	g, err := s.Access(ctx, tok, token.MethodPut, -1)
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

// TestMemoryStoreUploadsVanish: uploads go with their token's record past retention, and never
// before an hour past their own expiry.
func TestMemoryStoreUploadsVanish(t *testing.T) {
	clock := storetest.NewClock()
	s := token.NewMemoryStore(token.MemoryOptions{Retention: time.Minute, Now: clock.Now})
	defer s.Close()
	ctx := context.Background()
	tok := token.Generate()
	rec := token.Record{Bucket: "b", Key: "k", Method: token.MethodPut, MaxHits: 1, Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
	if err := s.Create(ctx, tok, rec); err != nil {
		t.Fatal(err)
	}
	g, err := s.Access(ctx, tok, token.MethodPut, -1)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUpload(ctx, g, token.Upload{Kind: "tus", Length: 1, ExpiresAt: clock.Now().Add(time.Minute).UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// Still there for the janitor (due now), until an hour past its expiry.
	due, err := s.ExpiredUploads(ctx, clock.Now(), 10)
	if err != nil || len(due) != 1 || due[0].Upload.ID != u.ID {
		t.Fatalf("due after the token's deletion: %+v, %v", due, err)
	}
	clock.Advance(time.Minute + time.Hour + time.Second)
	if err := s.DeleteUpload(ctx, token.ID(tok), u.ID); !errors.Is(err, token.ErrUploadNotFound) {
		t.Fatalf("an hour past its expiry: DeleteUpload = %v, want ErrUploadNotFound (gone)", err)
	}
}
