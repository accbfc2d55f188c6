package client_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/s3api"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/token/storetest"
	"github.com/assetgateway/assetgateway/internal/tus"
)

// controlToken is the in-process gateway's control token.
const controlToken = "control-token-for-client-tests"

// gateway is a real AssetGateway handler (api + proxy + the embedded token store + a local
// directory bucket) on a loopback listener. Bucket "local" works; bucket "broken" is an S3
// bucket whose server refuses everything (502 upstream_error); bucket "s3" is an S3 bucket
// served by fakeS3, where redirect delivery hands out presigned URLs. tus is on, and the S3
// listener serves at S3URL.
type gateway struct {
	URL   string
	S3URL string
	clock *storetest.Clock
	store *flakyStore
	dead  *deadLetters
	s3    *fakeS3
	close func()
}

// newGateway starts a gateway; close stops it and removes its files.
func newGateway() (*gateway, error) {
	dir, err := os.MkdirTemp("", "assetgateway-client-")
	if err != nil {
		return nil, err
	}
	files, err := objstore.NewFile(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	broken, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Bucket: "b", Endpoint: refusing.URL, ForcePathStyle: true, AccessKey: "ak", SecretKey: "sk",
		Region: "us-east-1", PartSize: objstore.MinPartSize, PartConcurrency: 1, ResponseTimeout: 5 * time.Second,
		UploadBudget: objstore.NewUploadBudget(objstore.MinPartSize),
	})
	if err != nil {
		refusing.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	fake := newFakeS3()
	s3, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Bucket: "b", Endpoint: fake.srv.URL, ForcePathStyle: true, AccessKey: "ak", SecretKey: "sk",
		Region: "us-east-1", PartSize: objstore.MinPartSize, PartConcurrency: 1, ResponseTimeout: 5 * time.Second,
		UploadBudget: objstore.NewUploadBudget(objstore.MinPartSize),
	})
	if err != nil {
		fake.srv.Close()
		refusing.Close()
		broken.Close()
		os.RemoveAll(dir)
		return nil, err
	}

	clock := storetest.NewClock()
	mem := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour, Now: clock.Now})
	store := &flakyStore{Store: mem}
	dead := &deadLetters{}
	objects := proxy.New(proxy.Options{
		Store:   store,
		Buckets: map[string]objstore.Backend{"local": files, "broken": broken, "s3": s3},
		Now:     clock.Now,
	})
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	base := "http://" + srv.Listener.Addr().String()
	keys := s3api.NewKeys("client-test-s3-listener-key-0123456789")
	s3h := s3api.New(s3api.Options{Store: mem, Objects: objects, Buckets: map[string]objstore.Backend{"local": files},
		Keys: keys, Region: "us-east-1"}) // the real clock: the SDK signs with it
	s3srv := httptest.NewServer(s3h)
	h = api.New(api.Options{
		Tus: tus.New(tus.Options{Store: mem, Buckets: map[string]objstore.Backend{"local": files}, Host: base,
			UploadTTL: time.Hour, Budget: objstore.NewUploadBudget(objstore.MinPartSize), Now: clock.Now}),
		S3:            &api.S3{Credentials: keys, Endpoint: s3srv.URL, Region: "us-east-1"},
		Tokens:        store,
		Objects:       objects,
		Buckets:       map[string]api.Bucket{"local": files, "broken": broken, "s3": s3},
		Redirects:     map[string]bool{"s3": objstore.CanPresign(s3)},
		ControlTokens: []string{controlToken},
		Host:          base,
		MaxTTL:        7 * 24 * time.Hour,
		MaxBody:       4096,
		DeadLetters:   dead,
		Now:           clock.Now,
	})
	srv.Start()
	return &gateway{URL: base, S3URL: s3srv.URL, clock: clock, store: store, dead: dead, s3: fake, close: func() {
		srv.Close()
		s3srv.Close()
		refusing.Close()
		fake.srv.Close()
		broken.Close()
		s3.Close()
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

func (s *flakyStore) CreateMany(ctx context.Context, items []token.Item) ([]error, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.CreateMany(ctx, items)
}

func (s *flakyStore) Get(ctx context.Context, tok string) (token.Record, error) {
	if s.down.Load() {
		return token.Record{}, errDown
	}
	return s.Store.Get(ctx, tok)
}

func (s *flakyStore) Access(ctx context.Context, tok string, req token.Request) (*token.Grant, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Access(ctx, tok, req)
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

// fakeS3 is the smallest object store that answers what a presigned URL asks of S3: GET and
// HEAD of an object (Range and conditions by http.ServeContent, the response-* overrides of
// a presigned GET) and PUT of a body with its Content-Length. It checks no signature; it
// records every request, so tests can see what reached the store and with which headers.
type fakeS3 struct {
	srv      *httptest.Server
	mu       sync.Mutex
	objects  map[string]fakeObject
	requests []*http.Request // clones, bodies not kept
	// redirectKeys answer 307 to another URL, to prove a client does not follow twice.
	redirectKeys map[string]string
}

type fakeObject struct {
	data        []byte
	contentType string
	modified    time.Time
}

func newFakeS3() *fakeS3 {
	f := &fakeS3{objects: map[string]fakeObject{}, redirectKeys: map[string]string{}}
	f.srv = httptest.NewServer(f)
	return f
}

// put stores an object directly, as if uploaded earlier.
func (f *fakeS3) put(key, contentType string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = fakeObject{data: data, contentType: contentType, modified: time.Now().Truncate(time.Second)}
}

func (f *fakeS3) object(key string) (fakeObject, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[key]
	return o, ok
}

// presigned returns the requests that came with a presigned URL (the client's), not with
// the gateway's own signed calls.
func (f *fakeS3) presigned() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*http.Request
	for _, r := range f.requests {
		if r.URL.Query().Get("X-Amz-Signature") != "" {
			out = append(out, r)
		}
	}
	return out
}

func s3Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><Key>k</Key></Error>`, code, message)
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	target := f.redirectKeys[r.URL.Path]
	f.mu.Unlock()
	key, ok := strings.CutPrefix(r.URL.Path, "/b/")
	switch {
	case !ok:
		s3Error(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
	case target != "":
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		obj, found := f.object(key)
		if !found {
			s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		q, h := r.URL.Query(), w.Header()
		sum := md5.Sum(obj.data)
		h.Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		h.Set("Content-Type", obj.contentType)
		for param, header := range map[string]string{"response-content-type": "Content-Type",
			"response-content-disposition": "Content-Disposition", "response-cache-control": "Cache-Control"} {
			if v := q.Get(param); v != "" {
				h.Set(header, v)
			}
		}
		http.ServeContent(w, r, "", obj.modified, bytes.NewReader(obj.data))
	case r.Method == http.MethodPut:
		if r.ContentLength < 0 {
			s3Error(w, http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
			return
		}
		data, err := io.ReadAll(r.Body)
		if err != nil || int64(len(data)) != r.ContentLength {
			s3Error(w, http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
			return
		}
		f.put(key, r.Header.Get("Content-Type"), data)
		sum := md5.Sum(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.WriteHeader(http.StatusOK)
	default:
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
}
