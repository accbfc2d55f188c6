package token

// Benchmarks of the token path: the consume script's round trip on a real redis-server, the
// embedded store, and the pieces every access runs (token ID, record decoding). Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/token
//
// The Redis benchmarks start their own redis-server (skipped with -short).

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// benchToken is a well-formed token; benchRecord a typical download record.
const benchToken = "bench-token-0123456789abcdef"

func benchRecord() Record {
	return Record{
		Bucket: "assets", Key: "videos/2024/demo-000123.mp4", Filename: "demo.mp4", Method: MethodGet,
		ExpireAt: time.Now().Add(time.Hour).Unix(), MaxHits: Unlimited, Size: Unlimited,
	}
}

// benchAccess runs Access serially and with 50 goroutines (25 per CPU on the 2-core
// reference machine, like the 50 connections of go run ./bench).
func benchAccess(b *testing.B, s Store) {
	ctx := context.Background()
	if err := s.Create(ctx, benchToken, benchRecord()); err != nil {
		b.Fatal(err)
	}
	for _, method := range []string{MethodGet, MethodHead} {
		b.Run(method, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Access(ctx, benchToken, Request{Method: method, ContentLength: -1}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(method+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Access(ctx, benchToken, Request{Method: method, ContentLength: -1}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRedisStoreAccess is the consume script's round trip: one EVALSHA on a real
// redis-server over loopback, plus decoding its reply into a Grant.
func BenchmarkRedisStoreAccess(b *testing.B) {
	benchAccess(b, benchRedisStore(b))
}

// BenchmarkMemoryStoreAccess is the embedded store's Access.
func BenchmarkMemoryStoreAccess(b *testing.B) {
	s := NewMemoryStore(MemoryOptions{Retention: time.Hour})
	b.Cleanup(func() { s.Close() })
	benchAccess(b, s)
}

// BenchmarkRedisStoreCreate is the mint path's store call (POST /token): one script round
// trip that checks, writes and sets the expiry of a new record.
func BenchmarkRedisStoreCreate(b *testing.B) {
	s := benchRedisStore(b)
	ctx := context.Background()
	rec := benchRecord()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		n++
		if err := s.Create(ctx, "bench-create-"+strconv.Itoa(n)+"-0000000000", rec); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRedisStore(b *testing.B) *RedisStore {
	srv := testenv.StartRedis(b)
	c := NewRedisClient(ClientOptions{Addr: srv.Addr, Timeout: time.Second})
	s := NewRedisStore(RedisOptions{Client: c, KeyPrefix: "ag:", Retention: 24 * time.Hour})
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkRecordEncode is the hash encoding of a record (Create's arguments).
func BenchmarkRecordEncode(b *testing.B) {
	rec := benchRecord()
	args := make([]any, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		args = appendFields(args[:0], rec, "gen-0001")
	}
	_ = args
}

// BenchmarkRecordDecode is decoding the consume script's reply (field, value, … as go-redis
// returns them) into a Record, as Access does.
func BenchmarkRecordDecode(b *testing.B) {
	rec := benchRecord()
	rec.Filename = "说明 README.md"
	enc := appendFields(nil, rec, "gen-0001")
	fields := make([]any, len(enc))
	for i, v := range enc { // go-redis returns every value as a string
		switch v := v.(type) {
		case string:
			fields[i] = v
		case int64:
			fields[i] = strconv.FormatInt(v, 10)
		default:
			b.Fatalf("field %d: unexpected %T", i, v)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		var gen string
		r := Record{MaxHits: Unlimited, Size: Unlimited}
		for i := 0; i+1 < len(fields); i += 2 {
			k, _ := fields[i].(string)
			v, _ := fields[i+1].(string)
			if err := r.set(k, v, &gen); err != nil {
				b.Fatal(err)
			}
		}
		if r.Key != rec.Key || gen == "" {
			b.Fatal("decoded record differs")
		}
	}
}

// BenchmarkID is the token → record ID hash every access computes.
func BenchmarkID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ID(benchToken)
	}
}

// BenchmarkWellFormed is the syntax check every /object request runs first.
func BenchmarkWellFormed(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !WellFormed(benchToken) {
			b.Fatal("not well formed")
		}
	}
}
