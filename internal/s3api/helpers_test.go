package s3api

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/assetgateway/assetgateway/internal/callback/callbacktest"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

const (
	testRegion    = "us-east-1"
	testServerKey = "s3api-test-server-key-0123456789abcdef"
	testAlias     = "assets"
)

// testServer is the listener in-process: the embedded token store, a directory bucket
// (which has the multipart API too), /object's proxy for the accesses, and a webhook
// recorder.
type testServer struct {
	srv    *httptest.Server
	store  *token.MemoryStore
	keys   *Keys
	bucket *objstore.File
	events *callbacktest.Recorder
	meter  *meter
}

// meter records the object bytes the listener counted.
type meter struct {
	mu    sync.Mutex
	bytes map[string]int64
}

func (m *meter) Request(string, string, int, time.Duration) {}

func (m *meter) Bytes(direction string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytes[direction] += n
}

func (m *meter) get(direction string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes[direction]
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	store := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour})
	t.Cleanup(func() { store.Close() })
	fb, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{store: store, keys: NewKeys(testServerKey), bucket: fb, events: &callbacktest.Recorder{},
		meter: &meter{bytes: map[string]int64{}}}
	buckets := map[string]objstore.Backend{testAlias: fb}
	objects := proxy.New(proxy.Options{Store: store, Buckets: buckets, Notifier: ts.events})
	h := New(Options{Store: store, Objects: objects, Buckets: buckets, Keys: ts.keys, Region: testRegion,
		Metrics: ts.meter})
	ts.srv = httptest.NewServer(h)
	h.endpoint = ts.srv.URL
	t.Cleanup(ts.srv.Close)
	return ts
}

// mint files a token with S3 credentials and returns it with a client that uses them.
func (ts *testServer) mint(t *testing.T, rec token.Record) (string, *s3.Client) {
	t.Helper()
	tok := token.Generate()
	nonce := ts.keys.NewNonce()
	akid, secret := ts.keys.Credentials(token.ID(tok), nonce)
	rec.S3 = nonce
	if rec.Bucket == "" {
		rec.Bucket = testAlias
	}
	if rec.ExpireAt == 0 {
		rec.ExpireAt = time.Now().Add(time.Hour).Unix()
	}
	if rec.MaxHits == 0 {
		rec.MaxHits = token.Unlimited
	}
	if rec.Size == 0 {
		rec.Size = token.Unlimited
	}
	if rec.Callback == "" {
		rec.Callback = "https://hooks.example.com/s3"
	}
	if err := ts.store.Create(context.Background(), tok, rec); err != nil {
		t.Fatal(err)
	}
	return tok, ts.client(akid, secret)
}

// client is an aws-sdk-go-v2 client of the listener: path style, no retries.
func (ts *testServer) client(akid, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(ts.srv.URL),
		UsePathStyle:     true,
		HTTPClient:       ts.srv.Client(),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func (ts *testServer) used(t *testing.T, tok string) int64 {
	t.Helper()
	rec, err := ts.store.Get(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return rec.UsedHits
}

// wantAPIError checks that err is the S3 error code, with msg in its message.
func wantAPIError(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: got %v, want S3 error %s", what, err, code)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("%s: got %s %q, want %s containing %q", what, ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

// wantStatus checks the HTTP status of an S3 error (HEAD answers carry no document).
func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("%s: got %v, want status %d", what, err, status)
	}
}

// putInput is a small object for the directory bucket.
func putInput(key, data string) objstore.PutInput {
	return objstore.PutInput{Key: key, Body: strings.NewReader(data), Size: int64(len(data))}
}
