package proxy_test

// Benchmarks of the /object hot path's pieces: header building and parsing, and the handler
// itself on the embedded token store and an in-memory backend (no network, so what is left is
// the gateway's own per-request cost). Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

func BenchmarkContentDisposition(b *testing.B) {
	for _, c := range []struct{ name, filename string }{
		{"ascii", "demo.mp4"},
		{"utf8", "说明 README.md"},
		{"quotes", `report "final" \ 2024.pdf`},
		{"long", "a-rather-long-file-name-with-many-words-in-it-for-a-quarterly-report-2024-q3-final-v2.pdf"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = proxy.ContentDisposition("attachment", c.filename)
			}
		})
	}
}

// memBackend serves one object from memory.
type memBackend struct {
	data []byte
	info objstore.ObjectInfo
}

func (m *memBackend) Delete(context.Context, string) error { return nil }

func (m *memBackend) List(context.Context, string, string, int) (objstore.ListPage, error) {
	return objstore.ListPage{}, nil
}

func (m *memBackend) Get(_ context.Context, _ string, o objstore.GetOptions) (*objstore.Object, error) {
	obj := &objstore.Object{ObjectInfo: m.info, Body: io.NopCloser(bytes.NewReader(m.data)), Length: int64(len(m.data))}
	if o.Range != nil {
		start, n, ok := o.Range.Resolve(int64(len(m.data)))
		if !ok {
			return nil, &objstore.RangeError{Size: int64(len(m.data))}
		}
		obj.Body = io.NopCloser(bytes.NewReader(m.data[start : start+n]))
		obj.Start, obj.Length, obj.Partial = start, n, true
	}
	return obj, nil
}

func (m *memBackend) Head(context.Context, string, objstore.Conditions) (objstore.ObjectInfo, error) {
	return m.info, nil
}

func (m *memBackend) Put(_ context.Context, in objstore.PutInput) (objstore.PutResult, error) {
	n, err := io.Copy(io.Discard, in.Body)
	return objstore.PutResult{ETag: m.info.ETag, Size: n}, err
}

// sinkWriter is a ResponseWriter that keeps nothing but the status, so that the benchmark
// counts the handler's allocations and not a recorder's.
type sinkWriter struct {
	header http.Header
	status int
	n      int
}

func (w *sinkWriter) Header() http.Header         { return w.header }
func (w *sinkWriter) WriteHeader(status int)      { w.status = status }
func (w *sinkWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func (w *sinkWriter) reset() {
	clear(w.header)
	w.status, w.n = 0, 0
}

// BenchmarkHandlerGet is GET/HEAD /object/{token} through proxy.Handler on the embedded
// store and an in-memory 1 KiB object: token check and hit, headers, body copy. The backend
// allocates 3 objects per GET (Object, reader, NopCloser), as a real one does.
func BenchmarkHandlerGet(b *testing.B) {
	store := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour})
	b.Cleanup(func() { store.Close() })
	be := &memBackend{data: bytes.Repeat([]byte("x"), 1<<10), info: objstore.ObjectInfo{
		Size: 1 << 10, ContentType: "video/mp4", ETag: "9e107d9d372bb6826bd81d3542a419d6",
		LastModified: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
	}}
	h := proxy.New(proxy.Options{Store: store, Buckets: map[string]objstore.Backend{"assets": be}})
	ctx := context.Background()
	rec := token.Record{Bucket: "assets", Key: "videos/2024/demo-000123.mp4", Method: token.MethodGet,
		ExpireAt: time.Now().Add(time.Hour).Unix(), MaxHits: token.Unlimited, Size: token.Unlimited}
	plain, named := "bench-token-plain-0123456789", "bench-token-named-0123456789"
	if err := store.Create(ctx, plain, rec); err != nil {
		b.Fatal(err)
	}
	rec.Filename = "说明 demo.mp4"
	if err := store.Create(ctx, named, rec); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, method, tok, rng string
		want                   int
	}{
		{"GET", http.MethodGet, plain, "", http.StatusOK},
		{"GET/filename", http.MethodGet, named, "", http.StatusOK},
		{"GET/range", http.MethodGet, plain, "bytes=0-99", http.StatusPartialContent},
		{"HEAD", http.MethodHead, plain, "", http.StatusOK},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(c.method, "/object/"+c.tok, nil)
			r.SetPathValue("token", c.tok)
			r.Header.Set("X-Request-Id", "bench-request-0001")
			if c.rng != "" {
				r.Header.Set("Range", c.rng)
			}
			w := &sinkWriter{header: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				if err := h.Get(w, r); err != nil {
					b.Fatal(err)
				}
				if w.status != c.want {
					b.Fatalf("status %d, want %d", w.status, c.want)
				}
			}
		})
	}
}
