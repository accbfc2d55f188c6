package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/token/storetest"
)

// controlToken is the in-process gateway's control token.
const controlToken = "control-token-for-client-tests"

// gateway is a real AssetGateway handler (api + proxy + the embedded token store + a local
// directory bucket) on a loopback listener. Bucket "local" works; bucket "broken" is an S3
// bucket whose server refuses everything (502 upstream_error).
type gateway struct {
	URL   string
	clock *storetest.Clock
	store *flakyStore
	dead  *deadLetters
	close func()
}

// newGateway starts a gateway; close stops it and removes its files.
func newGateway() (*gateway, error) {
	dir, err := os.MkdirTemp("", "assetgateway-client-")
	if err != nil {
		return nil, err
	}
	files, err := proxy.NewFile(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	broken, err := proxy.NewS3(context.Background(), proxy.S3Options{
		Bucket: "b", Endpoint: refusing.URL, ForcePathStyle: true, AccessKey: "ak", SecretKey: "sk",
	})
	if err != nil {
		refusing.Close()
		os.RemoveAll(dir)
		return nil, err
	}

	clock := storetest.NewClock()
	mem := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour, Now: clock.Now})
	store := &flakyStore{Store: mem}
	dead := &deadLetters{}
	objects := proxy.New(proxy.Options{
		Store:   store,
		Buckets: map[string]proxy.Backend{"local": files, "broken": broken},
		Now:     clock.Now,
	})
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	base := "http://" + srv.Listener.Addr().String()
	h = api.New(api.Options{
		Tokens:        store,
		Objects:       objects,
		Buckets:       map[string]api.Bucket{"local": files, "broken": broken},
		ControlTokens: []string{controlToken},
		Host:          base,
		MaxTTL:        7 * 24 * time.Hour,
		MaxBody:       4096,
		DeadLetters:   dead,
		Now:           clock.Now,
	})
	srv.Start()
	return &gateway{URL: base, clock: clock, store: store, dead: dead, close: func() {
		srv.Close()
		refusing.Close()
		broken.Close()
		mem.Close()
		files.Close()
		os.RemoveAll(dir)
	}}, nil
}

// flakyStore is a token store that can be made unreachable.
type flakyStore struct {
	token.Store
	down atomic.Bool
}

var errDown = fmt.Errorf("%w: switched off by the test", token.ErrUnavailable)

func (s *flakyStore) Create(ctx context.Context, tok string, rec token.Record) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Create(ctx, tok, rec)
}

func (s *flakyStore) Get(ctx context.Context, tok string) (token.Record, error) {
	if s.down.Load() {
		return token.Record{}, errDown
	}
	return s.Store.Get(ctx, tok)
}

func (s *flakyStore) Access(ctx context.Context, tok, method string, n int64) (*token.Grant, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Access(ctx, tok, method, n)
}

// deadLetters is a hand-written DeadLetters: a fixed list, and the ids replayed.
type deadLetters struct {
	mu       sync.Mutex
	list     []callback.DeadLetter // newest first
	replayed []string
}

func (d *deadLetters) add(dl callback.DeadLetter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append([]callback.DeadLetter{dl}, d.list...)
}

func (d *deadLetters) DeadLetters(_ context.Context, limit int) ([]callback.DeadLetter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(limit, len(d.list))
	return append([]callback.DeadLetter(nil), d.list[:n]...), nil
}

func (d *deadLetters) Replay(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dl := range d.list {
		if dl.ID == id {
			d.replayed = append(d.replayed, id)
			return nil
		}
	}
	return callback.ErrNotFound
}

// errorServer answers every request with status, headers and body: for the codes the
// gateway cannot be made to produce in-process.
func errorServer(status int, body string, hdr ...string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
}
