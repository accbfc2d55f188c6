package uppy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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
	"github.com/assetgateway/assetgateway/internal/token/storetest"
	"github.com/assetgateway/assetgateway/internal/upload"
	"github.com/assetgateway/assetgateway/internal/uppy"
)

// The tests run the whole HTTP surface in process — internal/api's routes, limiter and error
// writer, /object, and this package's handler — on a token store (the embedded one, or a
// real redis-server) and a real S3 server (MinIO, versitygw); the browser's part of the
// protocol (PUTs to presigned URLs) is sent by the test itself.

func TestMain(m *testing.M) { testenv.Main(m) }

const controlToken = "uppy-test-control-token"

// gateway is one in-process gateway on an S3 server.
type gateway struct {
	t       *testing.T
	url     string
	store   token.Store
	clock   *storetest.Clock // nil with Redis (real time)
	raw     *s3.Client
	bucket  string
	events  *callbacktest.Recorder
	janitor *upload.Janitor
	hc      *http.Client
	files   string        // the "files" alias's directory
	logs    *logBuffer    // everything the gateway logged
	seq     *atomic.Int64 // numbers the keys and callbacks of minted tokens
}

// on returns the gateway reporting failures to t (a subtest).
func (g *gateway) on(t *testing.T) *gateway {
	c := *g
	c.t = t
	return &c
}

type gatewayOptions struct {
	redis bool // a real redis-server instead of the embedded store
	limit api.RateLimit
	srv   func(testing.TB, bool) *testenv.S3
}

var bucketSeq atomic.Int64

func newGateway(t *testing.T, o gatewayOptions) *gateway {
	t.Helper()
	testenv.Integration(t)
	if o.srv == nil {
		o.srv = testenv.MinIO
	}
	srv := o.srv(t, false)
	g := &gateway{t: t, events: &callbacktest.Recorder{}, hc: &http.Client{Timeout: 60 * time.Second},
		seq: new(atomic.Int64), logs: &logBuffer{}}
	const retention = time.Hour
	if o.redis {
		r := testenv.StartRedis(t)
		rdb := token.NewRedisClient(token.ClientOptions{Addr: r.Addr, Timeout: 5 * time.Second})
		g.store = token.NewRedisStore(token.RedisOptions{Client: rdb, KeyPrefix: "ag:", Retention: retention})
	} else {
		g.clock = storetest.NewClock()
		g.store = token.NewMemoryStore(token.MemoryOptions{Retention: retention, Now: g.clock.Now})
	}
	t.Cleanup(func() { g.store.Close() })
	g.bucket = fmt.Sprintf("uppy-%d-%d", os.Getpid(), bucketSeq.Add(1))
	be, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Bucket: g.bucket, Region: srv.Region, Endpoint: srv.Endpoint, ForcePathStyle: true, AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey, PartSize: objstore.MinPartSize, PartConcurrency: 1, ResponseTimeout: 20 * time.Second,
		UploadBudget: objstore.NewUploadBudget(16 << 20),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	g.raw = s3.New(s3.Options{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
	if _, err := g.raw.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &g.bucket}); err != nil {
		t.Fatalf("create bucket on %s: %v", srv.Name, err)
	}
	g.files = t.TempDir()
	files, err := objstore.NewFile(g.files)
	if err != nil {
		t.Fatal(err)
	}
	g.start(t, o, be, files)
	return g
}

// start serves the API over the backends.
func (g *gateway) start(t *testing.T, o gatewayOptions, be *objstore.S3, files *objstore.File) {
	now := time.Now
	if g.clock != nil {
		now = g.clock.Now
	}
	srv := httptest.NewUnstartedServer(nil)
	g.url = "http://" + srv.Listener.Addr().String()
	backends := map[string]objstore.Backend{"assets": be, "plain": be, "files": files}
	log := slog.New(slog.NewJSONHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := uppy.New(uppy.Options{Store: g.store, Aliases: map[string]uppy.Alias{"assets": {Objects: be, PresignTTL: time.Minute}},
		Retention: time.Hour, Host: g.url, Notifier: g.events, Logger: log, Now: now})
	g.janitor = upload.NewJanitor(upload.JanitorOptions{Store: g.store, Owners: map[string]upload.Owner{uppy.Kind: h},
		Interval: time.Hour, Now: now})
	srv.Config.Handler = api.New(api.Options{
		Tokens:        g.store,
		Objects:       proxy.New(proxy.Options{Store: g.store, Buckets: backends, Notifier: g.events, Logger: log, Now: now}),
		Uppy:          h,
		Buckets:       map[string]api.Bucket{"assets": be, "plain": be, "files": files},
		ControlTokens: []string{controlToken},
		Host:          g.url,
		MaxTTL:        24 * time.Hour,
		MaxBody:       1 << 20,
		RateLimit:     o.limit,
		ClientIP:      func(r *http.Request) string { return "192.0.2.7" }, // the test's one client
		Logger:        log,
		Now:           now,
	})
	srv.Start()
	t.Cleanup(srv.Close)
}

// mint creates a token from POST /token fields (method PUT, bucket "assets" unless given;
// a fresh key and callback) and returns it.
func (g *gateway) mint(fields string) string {
	g.t.Helper()
	n := g.seq.Add(1)
	body := fmt.Sprintf(`{"key":"up/%d.bin","callback":"https://hooks.example.com/%d",%s}`, n, n, fields)
	for name, def := range map[string]string{"bucket": `"assets"`, "method": `"PUT"`} {
		if !strings.Contains(fields, `"`+name+`"`) {
			body = strings.Replace(body, `{`, `{"`+name+`":`+def+`,`, 1)
		}
	}
	status, out := g.do(http.MethodPost, "/token", body, "Authorization", "Bearer "+controlToken)
	if status != http.StatusCreated {
		g.t.Fatalf("mint %s: %d %s", body, status, out)
	}
	var res struct{ Token string }
	json.Unmarshal(out, &res)
	return res.Token
}

// do sends a request to the gateway; body "" sends none.
func (g *gateway) do(method, path, body string, hdr ...string) (int, []byte) {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.url+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// record reads a token's record through the control API.
func (g *gateway) record(tok string) map[string]any {
	g.t.Helper()
	status, out := g.do(http.MethodGet, "/token/"+tok, "", "Authorization", "Bearer "+controlToken)
	if status != http.StatusOK {
		g.t.Fatalf("GET /token: %d %s", status, out)
	}
	var rec map[string]any
	json.Unmarshal(out, &rec)
	return rec
}

func (g *gateway) usedHits(tok string) int {
	g.t.Helper()
	return int(g.record(tok)["used_hits"].(float64))
}

// wantHits fails unless tok has used n hits.
func (g *gateway) wantHits(tok string, n int, what string) {
	g.t.Helper()
	if got := g.usedHits(tok); got != n {
		g.t.Errorf("%s: used_hits %d, want %d", what, got, n)
	}
}

// wantCode fails unless an answer has this status and contract code.
func wantCode(t *testing.T, what string, status int, body []byte, wantStatus int, code string) {
	t.Helper()
	var e struct{ Code string }
	json.Unmarshal(body, &e)
	if status != wantStatus || e.Code != code {
		t.Errorf("%s: got %d %s, want %d %s", what, status, body, wantStatus, code)
	}
}

// started is a multipart upload as the client knows it.
type started struct {
	tok, id, key string
}

func (u started) base() string { return "/uppy/" + u.tok + "/s3/multipart/" + u.id }
func (u started) q() string    { return "?key=" + url.QueryEscape(u.key) }

// create starts a multipart upload of a file of type typ.
func (g *gateway) create(tok, typ string) (started, int, []byte) {
	g.t.Helper()
	body := fmt.Sprintf(`{"filename":"holiday.mp4","type":%q,"metadata":{"name":"holiday.mp4","size":3}}`, typ)
	status, out := g.do(http.MethodPost, "/uppy/"+tok+"/s3/multipart", body)
	var res struct{ UploadID, Key string }
	json.Unmarshal(out, &res)
	return started{tok, res.UploadID, res.Key}, status, out
}

// mustCreate starts an upload and fails on anything but 200.
func (g *gateway) mustCreate(tok, typ string) started {
	g.t.Helper()
	u, status, out := g.create(tok, typ)
	if status != http.StatusOK || u.id == "" || u.key == "" {
		g.t.Fatalf("create: %d %s", status, out)
	}
	return u
}

// sign asks for part n's URL.
func (g *gateway) sign(u started, n string) (string, int, []byte) {
	g.t.Helper()
	status, out := g.do(http.MethodGet, u.base()+"/"+n+u.q(), "")
	var res struct{ URL string }
	json.Unmarshal(out, &res)
	return res.URL, status, out
}

// sendPart signs part n and PUTs data to the URL, as the browser does; it returns the ETag.
func (g *gateway) sendPart(u started, n int, data []byte) string {
	g.t.Helper()
	u8, status, out := g.sign(u, fmt.Sprint(n))
	if status != http.StatusOK {
		g.t.Fatalf("sign part %d: %d %s", n, status, out)
	}
	return g.put(u8, data)
}

// put sends data to a presigned URL and returns the ETag S3 answered.
func (g *gateway) put(u8 string, data []byte) string {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, u8, bytes.NewReader(data))
	resp, err := g.hc.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("PUT to the presigned URL: %d %s", resp.StatusCode, body)
	}
	return strings.Trim(resp.Header.Get("ETag"), `"`)
}

// completeBody is a completion's JSON for parts (number, ETag, …).
func completeBody(parts ...any) string {
	var list []string
	for i := 0; i+1 < len(parts); i += 2 {
		list = append(list, fmt.Sprintf(`{"PartNumber":%d,"ETag":%q}`, parts[i], parts[i+1]))
	}
	return `{"parts":[` + strings.Join(list, ",") + `]}`
}

func (g *gateway) complete(u started, body string) (int, []byte) {
	g.t.Helper()
	return g.do(http.MethodPost, u.base()+"/complete"+u.q(), body)
}

// openUploads counts the multipart uploads open in the bucket.
func (g *gateway) openUploads() int { return g.openUploadsOf("") }

// openUploadsOf counts the multipart uploads open under a key prefix.
func (g *gateway) openUploadsOf(prefix string) int {
	g.t.Helper()
	out, err := g.raw.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &g.bucket, Prefix: &prefix})
	if err != nil {
		g.t.Fatal(err)
	}
	return len(out.Uploads)
}

// object reads a stored object: its bytes and type, or ok false when there is none.
func (g *gateway) object(key string) ([]byte, string, bool) {
	g.t.Helper()
	out, err := g.raw.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &g.bucket, Key: &key})
	if err != nil {
		return nil, "", false
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	return b, aws.ToString(out.ContentType), true
}

// logBuffer collects log lines from every goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// noSecrets fails if the log holds a token or anything of a presigned URL.
func (g *gateway) noSecrets(tokens ...string) {
	g.t.Helper()
	logged := g.logs.String()
	if !strings.Contains(logged, "uppy_upload_started") {
		g.t.Errorf("the log has no uppy lines:\n%s", logged)
	}
	for _, s := range append(tokens, "X-Amz-Signature", "X-Amz-Credential", "policy") {
		if strings.Contains(logged, s) {
			g.t.Errorf("the log holds %q", s)
		}
	}
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
