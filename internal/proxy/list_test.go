package proxy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// listCounter is a bucket that counts the listing calls and the entries they returned.
type listCounter struct {
	objstore.Backend
	mu             sync.Mutex
	calls, entries int
}

func (l *listCounter) List(ctx context.Context, prefix, after string, limit int) (objstore.ListPage, error) {
	p, err := l.Backend.List(ctx, prefix, after, limit)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.entries += len(p.Entries)
	return p, err
}

// TestListHeadReadsOnePage: a HEAD on a LIST token (free of hits) costs the bucket no more
// than the one page a GET would list, however large the folder: it cannot be used to walk
// the tree for nothing.
func TestListHeadReadsOnePage(t *testing.T) {
	ctx := context.Background()
	files, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	for i := range 50 {
		key := fmt.Sprintf("tree/%02d/leaf", i)
		if _, err := files.Put(ctx, objstore.PutInput{Key: key, Body: strings.NewReader("x"), Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	be := &listCounter{Backend: files}
	store := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour})
	defer store.Close()
	h := proxy.New(proxy.Options{Store: store, Buckets: map[string]objstore.Backend{"local": be}})
	const tok = "list-head-token-0123456789"
	if err := store.Create(ctx, tok, token.Record{Bucket: "local", Prefix: "tree/", Method: token.MethodList,
		ExpireAt: time.Now().Add(time.Hour).Unix(), MaxHits: 1, Size: token.Unlimited}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := httptest.NewRequest(http.MethodHead, "/object/"+tok+"?limit=2", nil)
		r.SetPathValue("token", tok)
		w := httptest.NewRecorder()
		if err := h.Get(w, r); err != nil || w.Code != http.StatusOK {
			t.Fatalf("HEAD: %v, status %d", err, w.Code)
		}
	}
	if be.calls != 3 || be.entries > 3*2 {
		t.Fatalf("3 HEADs of 2-entry pages: %d listing calls returning %d entries, want 3 calls and at most 6", be.calls, be.entries)
	}
	if rec, _ := store.Get(ctx, tok); rec.UsedHits != 0 {
		t.Fatalf("used_hits after HEADs: %d, want 0", rec.UsedHits)
	}
}
