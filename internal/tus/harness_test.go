package tus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback/callbacktest"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/tus"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// TestMain stops the shared S3 servers when the package's tests end.
func TestMain(m *testing.M) { testenv.Main(m) }

const (
	control  = "tus-test-control-token"
	partSize = objstore.MinPartSize
	hook     = "https://hooks.example.com/in"
)

// gateway is one in-process gateway: the real route table, the tus handler, a token store and
// one bucket alias "b".
type gateway struct {
	t       *testing.T
	url     string
	kind    string // "file", "minio" or "versitygw"
	store   token.Store
	be      objstore.Backend
	hooks   *callbacktest.Recorder
	janitor *upload.Janitor
	s3      *s3.Client // the bucket without the gateway (S3 kinds)
	bucket  string
	root    string // the directory (file kind)
}

// watchedStore tells the test when an upload's lock is taken (by anyone).
type watchedStore struct {
	token.Store
	locked chan string // upload ids, as their lock is taken
}

func watch(s token.Store) *watchedStore {
	return &watchedStore{Store: s, locked: make(chan string, 1000)}
}

func (w *watchedStore) LockUpload(ctx context.Context, tokenID, id, holder string, ttl time.Duration) (bool, error) {
	ok, err := w.Store.LockUpload(ctx, tokenID, id, holder, ttl)
	if ok {
		select {
		case w.locked <- id:
		default:
		}
	}
	return ok, err
}

// waitLocked waits until upload id's lock is taken.
func (g *gateway) waitLocked(id string) {
	g.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-g.store.(*watchedStore).locked:
			if got == id {
				return
			}
		case <-timeout:
			g.t.Fatalf("upload %s was not locked within 10s", id)
		}
	}
}

// setup is what a test may change about its gateways.
type setup struct {
	uploadTTL time.Duration
	budget    int64
	rate      int // failed token checks per minute and burst; 0: 1000
}

// newGateway starts a gateway on a new, empty bucket of the given kind, with the embedded
// store.
func newGateway(t *testing.T, kind string, s setup) *gateway {
	t.Helper()
	mem := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour})
	t.Cleanup(func() { mem.Close() })
	g := &gateway{t: t, kind: kind, store: watch(mem)}
	g.be = g.openBucket()
	g.start(s)
	return g
}

// openBucket opens a new bucket of g's kind.
func (g *gateway) openBucket() objstore.Backend {
	t := g.t
	t.Helper()
	if g.kind == "file" {
		g.root = t.TempDir()
		f, err := objstore.NewFile(g.root)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	srv := testenv.MinIO(t, false)
	if g.kind == "versitygw" {
		srv = testenv.VersityGW(t, false)
	}
	g.bucket = fmt.Sprintf("tus-%d-%08x", os.Getpid(), rand.Uint32())
	g.s3 = s3.New(s3.Options{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &g.bucket}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	b, err := objstore.NewS3(ctx, objstore.S3Options{Bucket: g.bucket, Region: srv.Region, Endpoint: srv.Endpoint,
		ForcePathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PartSize: partSize, PartConcurrency: 2,
		ResponseTimeout: 20 * time.Second, UploadBudget: objstore.NewUploadBudget(64 << 20)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// start serves g's routes on a new listener.
func (g *gateway) start(s setup) {
	if s.uploadTTL == 0 {
		s.uploadTTL = time.Hour
	}
	if s.budget == 0 {
		s.budget = 64 << 20
	}
	if s.rate == 0 {
		s.rate = 1000
	}
	g.hooks = &callbacktest.Recorder{}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	g.t.Cleanup(srv.Close)
	g.url = srv.URL
	buckets := map[string]objstore.Backend{"b": g.be}
	th := tus.New(tus.Options{Store: g.store, Buckets: buckets, PartSize: map[string]int64{"b": partSize},
		Budget: objstore.NewUploadBudget(s.budget), Host: g.url, UploadTTL: s.uploadTTL, Notifier: g.hooks})
	g.janitor = upload.NewJanitor(upload.JanitorOptions{Store: g.store, Owners: map[string]upload.Owner{tus.Kind: th},
		Interval: time.Hour})
	h = api.New(api.Options{
		Tokens:        g.store,
		Objects:       proxy.New(proxy.Options{Store: g.store, Buckets: buckets}),
		Tus:           th,
		Buckets:       map[string]api.Bucket{"b": g.be},
		ControlTokens: []string{control},
		Host:          g.url,
		MaxTTL:        24 * time.Hour,
		MaxBody:       1 << 20,
		CORS:          api.CORS{AllowedOrigins: []string{"https://app.example.com"}},
		RateLimit:     api.RateLimit{PerMinute: s.rate, Burst: s.rate},
	})
}

// answer is a response with its body read.
type answer struct {
	status int
	hdr    http.Header
	body   []byte
}

func (a answer) code() string {
	var e struct{ Code string }
	if json.Unmarshal(a.body, &e) != nil {
		return a.hdr.Get("X-Error-Code") // a HEAD's error has no body
	}
	return e.Code
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body)) }

// do sends a request; body may be nil, and a body of unknown length (chunked) when size is -1.
func (g *gateway) do(method, path string, body io.Reader, size int64, hdr ...string) answer {
	g.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = g.url + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		g.t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = size
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, hdr: resp.Header, body: b}
}

// mint creates a PUT token for key with the extra fields (a JSON object's members) and
// returns it.
func (g *gateway) mint(key, extra string) string {
	g.t.Helper()
	body := `{"bucket":"b","key":"` + key + `","method":"PUT","callback":"` + hook + `"` + extra + `}`
	a := g.do("POST", "/token", strings.NewReader(body), int64(len(body)), "Authorization", "Bearer "+control,
		"Content-Type", "application/json")
	if a.status != http.StatusCreated {
		g.t.Fatalf("mint: %s", a)
	}
	var out struct {
		Token  string `json:"token"`
		TusURL string `json:"tus_url"`
	}
	_ = json.Unmarshal(a.body, &out)
	if out.TusURL != g.url+"/tus/"+out.Token {
		g.t.Fatalf("tus_url %q, want %s/tus/<token>", out.TusURL, g.url)
	}
	return out.Token
}

// record reads a token through the control API (status: with the live object).
func (g *gateway) record(tok string) map[string]any {
	g.t.Helper()
	a := g.do("GET", "/token/"+tok+"/status", nil, 0, "Authorization", "Bearer "+control)
	if a.status != http.StatusOK {
		g.t.Fatalf("status: %s", a)
	}
	var m map[string]any
	_ = json.Unmarshal(a.body, &m)
	return m
}

func (g *gateway) usedHits(tok string) int { return int(g.record(tok)["used_hits"].(float64)) }

// create POSTs a creation with Upload-Length n (-1: deferred) and returns the upload's path.
func (g *gateway) create(tok string, n int64, hdr ...string) string {
	g.t.Helper()
	a := g.post(tok, n, hdr...)
	if a.status != http.StatusCreated {
		g.t.Fatalf("POST /tus: %s", a)
	}
	loc := a.hdr.Get("Location")
	if !strings.HasPrefix(loc, g.url+"/tus/"+tok+"/") {
		g.t.Fatalf("Location %q is not under /tus/<token>/", loc)
	}
	return strings.TrimPrefix(loc, g.url)
}

func (g *gateway) post(tok string, n int64, hdr ...string) answer {
	g.t.Helper()
	h := []string{"Tus-Resumable", "1.0.0"}
	if n >= 0 {
		h = append(h, "Upload-Length", fmt.Sprint(n))
	} else {
		h = append(h, "Upload-Defer-Length", "1")
	}
	return g.do("POST", "/tus/"+tok, nil, 0, append(h, hdr...)...)
}

// patch sends data at offset; size -1 sends it chunked.
func (g *gateway) patch(path string, offset int64, data []byte, size int64, hdr ...string) answer {
	g.t.Helper()
	var body io.Reader = bytes.NewReader(data)
	if size < 0 {
		body = struct{ io.Reader }{body} // no length: chunked
	}
	h := append([]string{"Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream",
		"Upload-Offset", fmt.Sprint(offset)}, hdr...)
	return g.do("PATCH", path, body, size, h...)
}

// head returns the upload's offset as HEAD tells it (-1 with the answer when not 200).
func (g *gateway) head(path string) (int64, answer) {
	g.t.Helper()
	a := g.do("HEAD", path, nil, 0, "Tus-Resumable", "1.0.0")
	if a.status != http.StatusOK {
		return -1, a
	}
	var off int64
	fmt.Sscan(a.hdr.Get("Upload-Offset"), &off)
	return off, a
}

// send uploads data in PATCHes of chunk bytes (chunked bodies when chunked) from offset 0.
func (g *gateway) send(path string, data []byte, chunk int, chunked bool) {
	g.t.Helper()
	for off := 0; off < len(data); off += chunk {
		part := data[off:min(off+chunk, len(data))]
		size := int64(len(part))
		if chunked {
			size = -1
		}
		a := g.patch(path, int64(off), part, size)
		if a.status != http.StatusNoContent || a.hdr.Get("Upload-Offset") != fmt.Sprint(off+len(part)) {
			g.t.Fatalf("PATCH at %d (%d bytes): %s, Upload-Offset %q", off, len(part), a, a.hdr.Get("Upload-Offset"))
		}
	}
}

// object reads key from the bucket without the gateway; nil when it does not exist.
func (g *gateway) object(key string) []byte {
	g.t.Helper()
	obj, err := g.be.Get(context.Background(), key, objstore.GetOptions{})
	if err != nil {
		return nil
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	return b
}

// leftovers lists what uploads left in the bucket: temporary objects, open multipart
// uploads (S3) or upload folders (file).
func (g *gateway) leftovers() []string {
	g.t.Helper()
	ctx := context.Background()
	var out []string
	page, err := g.be.List(ctx, upload.ScratchPrefix, "", 1000)
	if err != nil {
		g.t.Fatal(err)
	}
	for _, e := range page.Entries {
		out = append(out, "temporary object "+e.Key)
	}
	if g.s3 != nil {
		mp, err := g.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &g.bucket})
		if err != nil {
			g.t.Fatal(err)
		}
		for _, u := range mp.Uploads {
			out = append(out, "multipart upload of "+aws.ToString(u.Key))
		}
	} else {
		entries, _ := os.ReadDir(filepath.Join(g.root, ".assetgateway", "mpu"))
		for _, e := range entries {
			out = append(out, "upload folder "+e.Name())
		}
	}
	return out
}

func (g *gateway) noLeftovers() {
	g.t.Helper()
	if left := g.leftovers(); len(left) > 0 {
		g.t.Errorf("left in the bucket: %v", left)
	}
}

func randomData(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// kinds are the bucket kinds every protocol test runs on.
var kinds = []string{"file", "minio", "versitygw"}

// eachKind runs f on a gateway of every kind (integration servers for S3).
func eachKind(t *testing.T, s setup, f func(t *testing.T, g *gateway)) {
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) {
			if k != "file" {
				testenv.Integration(t)
			}
			f(t, newGateway(t, k, s))
		})
	}
}
