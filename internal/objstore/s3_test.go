package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/assetgateway/assetgateway/internal/byterange"
	"github.com/assetgateway/assetgateway/internal/testenv"
)

// s3Servers are the real S3 servers the S3-only tests run against.
var s3Servers = []struct {
	name   string
	server func(testing.TB, bool) *testenv.S3
	tls    bool
}{
	{"minio-http", testenv.MinIO, false},
	{"minio-https", testenv.MinIO, true},
	{"versitygw-http", testenv.VersityGW, false},
	{"versitygw-https", testenv.VersityGW, true},
}

// TestS3PutStreams checks, on http:// and https:// alike, that upload bodies go out as they
// are read: as UNSIGNED-PAYLOAD with their exact Content-Length, no aws-chunked framing and no
// trailing checksum, the SDK never reading the body before the request is on its way, and
// memory independent of the body's size.
func TestS3PutStreams(t *testing.T) {
	for _, srv := range s3Servers {
		t.Run(srv.name, func(t *testing.T) {
			server := srv.server(t, srv.tls)
			b := newTestS3(t, server, func(o *S3Options) {
				o.MaxSinglePut = 64 << 20
				o.PartSize = 10 << 20
			})
			// Record what the SDK sends, on its own transport.
			rec := &recordingTransport{next: b.tr.http}
			b.tr.client.Transport = rec
			for _, tc := range []struct {
				name         string
				size         int64
				wantRequests []int64 // Content-Length of each body-carrying request
			}{
				{"one PutObject", 48 << 20, []int64{48 << 20}},
				{"streamed parts", 65 << 20, []int64{10 << 20, 10 << 20, 10 << 20, 10 << 20, 10 << 20, 10 << 20, 5 << 20}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rec.reset()
					body := &probeReader{remaining: tc.size, rec: rec}
					var before, after runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&before)
					res, err := b.Put(context.Background(), PutInput{Key: "stream", Body: body, Size: tc.size})
					runtime.ReadMemStats(&after)
					if err != nil {
						t.Fatalf("Put: %v", err)
					}
					if res.Size != tc.size {
						t.Errorf("Put size %d, want %d", res.Size, tc.size)
					}
					if body.readOutsideRoundTrip {
						t.Error("the body was read while no request was being sent: the SDK read ahead")
					}
					// Allocation is independent of the body: a few MiB of SDK and TLS
					// overhead at most, whatever the size.
					if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
						t.Errorf("uploading %d MiB allocated %d MiB", tc.size>>20, alloc>>20)
					}
					reqs := rec.bodies()
					if len(reqs) != len(tc.wantRequests) {
						t.Fatalf("%d body-carrying requests, want %d: %+v", len(reqs), len(tc.wantRequests), reqs)
					}
					for i, r := range reqs {
						if r.contentLength != tc.wantRequests[i] || r.payloadHash != "UNSIGNED-PAYLOAD" ||
							r.contentEncoding != "" || r.trailer != "" || r.checksumHeaders != "" {
							t.Errorf("request %d = %+v, want Content-Length %d, UNSIGNED-PAYLOAD, no aws-chunked, no checksums",
								i, r, tc.wantRequests[i])
						}
					}
					info, err := b.Head(context.Background(), "stream", Conditions{})
					if err != nil || info.Size != tc.size {
						t.Errorf("Head = %+v, %v; want size %d", info, err, tc.size)
					}
				})
			}
		})
	}
}

// TestS3UnknownSizeRequests checks which requests an upload of unknown length becomes, and
// that it never holds more than PartConcurrency+1 part buffers.
func TestS3UnknownSizeRequests(t *testing.T) {
	// A budget of exactly PartConcurrency+1 parts: an upload that tried to hold one more
	// buffer would wait forever, and the test would time out.
	b := newTestS3(t, testenv.MinIO(t, false), func(o *S3Options) {
		o.UploadBudget = NewUploadBudget(testPartSize * int64(o.PartConcurrency+1))
	})
	api := &countingAPI{s3API: b.api}
	b.api = api
	for _, tc := range []struct {
		size int
		want map[string]int
	}{
		{0, map[string]int{"PutObject": 1}},
		{100 << 10, map[string]int{"PutObject": 1}},
		{testPartSize, map[string]int{"PutObject": 1}},
		{testPartSize + 1, map[string]int{"CreateMultipartUpload": 1, "UploadPart": 2, "CompleteMultipartUpload": 1}},
		{64 << 20, map[string]int{"CreateMultipartUpload": 1, "UploadPart": 13, "CompleteMultipartUpload": 1}},
	} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			api.reset()
			data := testData(tc.size, 20)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := b.Put(ctx, PutInput{Key: "chunked", Body: onlyReader(data), Size: -1}); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got := api.snapshot(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("requests %v, want %v", got, tc.want)
			}
			checkBudgetFree(t, b)
		})
	}
}

// TestS3StoreFailureAborts injects store failures into each step of a multipart upload.
func TestS3StoreFailureAborts(t *testing.T) {
	errStore := errors.New("injected store failure")
	for _, srv := range s3Servers[:3] {
		t.Run(srv.name, func(t *testing.T) {
			b := newTestS3(t, srv.server(t, srv.tls), nil)
			api := &countingAPI{s3API: b.api}
			b.api = api
			for _, tc := range []struct {
				name       string
				fail       string // operation that fails
				part       int32  // for UploadPart: which part
				known      bool
				wantAborts int
			}{
				{"create, unknown length", "CreateMultipartUpload", 0, false, 0},
				{"part 1, unknown length", "UploadPart", 1, false, 1},
				{"part 3, unknown length", "UploadPart", 3, false, 1},
				{"complete, unknown length", "CompleteMultipartUpload", 0, false, 1},
				{"part 2, known length", "UploadPart", 2, true, 1},
				{"complete, known length", "CompleteMultipartUpload", 0, true, 1},
			} {
				t.Run(tc.name, func(t *testing.T) {
					api.reset()
					api.inject(tc.fail, tc.part, errStore)
					defer api.inject("", 0, nil)
					data := testData(testBigSize, 21)
					size := int64(-1)
					if tc.known {
						size = int64(len(data))
					}
					_, err := b.Put(context.Background(), PutInput{Key: "failing", Body: onlyReader(data), Size: size})
					if !errors.Is(err, errStore) {
						t.Fatalf("Put = %v, want the store's error", err)
					}
					if got := api.snapshot()["AbortMultipartUpload"]; got != tc.wantAborts {
						t.Errorf("%d aborts, want %d", got, tc.wantAborts)
					}
					if _, err := b.Head(context.Background(), "failing", Conditions{}); !errors.Is(err, ErrObjectNotFound) {
						t.Errorf("Head after a failed upload = %v, want ErrObjectNotFound", err)
					}
					if left := openUploads(t, b); len(left) > 0 {
						t.Errorf("multipart uploads left open: %v", left)
					}
					checkBudgetFree(t, b)
				})
			}
		})
	}
}

// TestS3TooManyParts checks that an upload of unknown length stops, and is aborted, when it
// would need more than 10000 parts.
func TestS3TooManyParts(t *testing.T) {
	const partSize = 1 << 10
	for _, tc := range []struct {
		size    int
		wantErr bool
	}{
		{MaxParts * partSize, false},
		{MaxParts*partSize + 1, true},
	} {
		api := &memoryMultipartAPI{}
		b := &S3{api: api, bucket: "b", partSize: partSize, concurrency: 2, maxSinglePut: maxSinglePutSize,
			parts: newBufPool(partSize, NewUploadBudget(3*partSize))}
		res, err := b.Put(context.Background(), PutInput{Key: "k", Body: io.LimitReader(zeroes{}, int64(tc.size)), Size: -1})
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "exceeds 10000 parts") {
				t.Errorf("Put of %d bytes = %v, want a too-many-parts error", tc.size, err)
			}
			if api.aborted != 1 || api.completed != 0 {
				t.Errorf("Put of %d bytes: %d aborts, %d completions; want 1, 0", tc.size, api.aborted, api.completed)
			}
		} else if err != nil || res.Size != int64(tc.size) || api.parts != MaxParts || api.completed != 1 {
			t.Errorf("Put of %d bytes = %+v, %v after %d parts; want success in 10000 parts", tc.size, res, err, api.parts)
		}
		checkBudgetFree(t, b)
	}
}

// TestS3ServerErrors checks the error translation against a real server.
func TestS3ServerErrors(t *testing.T) {
	srv := testenv.MinIO(t, false)
	b := newTestS3(t, srv, nil)
	ctx := context.Background()
	if err := b.Check(ctx); err != nil {
		t.Errorf("Check on an existing bucket: %v", err)
	}
	putBytes(t, b, "k", []byte("hello"), "")

	t.Run("missing bucket", func(t *testing.T) {
		o := testS3Options(srv)
		o.Bucket = "ag-no-such-bucket"
		nb, err := NewS3(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer nb.Close()
		if err := nb.Check(ctx); err == nil {
			t.Error("Check on a missing bucket succeeded")
		}
		_, err = nb.Get(ctx, "k", GetOptions{})
		if err == nil || errors.Is(err, ErrObjectNotFound) {
			t.Errorf("Get from a missing bucket = %v, want an upstream error", err)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		o := testS3Options(srv)
		o.Bucket, o.SecretKey = b.bucket, "wrong-secret-key"
		wb, err := NewS3(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"k", "missing"} {
			_, err := wb.Get(ctx, key, GetOptions{})
			if err == nil || errors.Is(err, ErrObjectNotFound) || faultOf(err).Status != http.StatusForbidden {
				t.Errorf("Get %q with a wrong secret = %v, want a 403 upstream error", key, err)
			}
		}
		data := testData(1<<20, 1)
		if _, err := wb.Put(ctx, PutInput{Key: "k", Body: onlyReader(data), Size: int64(len(data))}); err == nil {
			t.Error("Put with a wrong secret succeeded")
		}
		if err := wb.Check(ctx); err == nil {
			t.Error("Check with a wrong secret succeeded")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := b.Get(cctx, "k", GetOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("Get with a cancelled context = %v, want context.Canceled", err)
		}
		if _, err := b.Head(cctx, "k", Conditions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("Head with a cancelled context = %v, want context.Canceled", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		o := testS3Options(srv)
		o.Bucket, o.Endpoint, o.CAFile = "x", "http://127.0.0.1:1", ""
		ub, err := NewS3(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ub.Get(ctx, "k", GetOptions{})
		if err == nil || errors.Is(err, ErrObjectNotFound) || errors.Is(err, ErrRangeNotSatisfiable) {
			t.Errorf("Get from an unreachable store = %v, want an upstream error", err)
		}
	})
}

// TestS3ErrorTranslation feeds the translation the shapes S3-compatible stores answer in.
func TestS3ErrorTranslation(t *testing.T) {
	respErr := func(status int, hdr http.Header, inner error) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: hdr}},
				Err:      inner,
			},
		}}
	}
	generic := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }
	for _, tc := range []struct {
		name     string
		err      error
		headSize int64 // HeadObject's answer; -1: HeadObject fails
		want     error // ErrObjectNotFound, ErrRangeNotSatisfiable or nil (upstream)
		wantSize int64
	}{
		{"typed NoSuchKey", respErr(404, nil, &types.NoSuchKey{}), 0, ErrObjectNotFound, 0},
		{"typed NotFound", respErr(404, nil, &types.NotFound{}), 0, ErrObjectNotFound, 0},
		{"code only", generic("NoSuchKey"), 0, ErrObjectNotFound, 0},
		{"status only", respErr(404, nil, errors.New("no body")), 0, ErrObjectNotFound, 0},
		{"no such bucket", respErr(404, nil, generic("NoSuchBucket")), 0, nil, 0},
		{"access denied", respErr(403, nil, generic("AccessDenied")), 0, nil, 0},
		{"server error", respErr(500, nil, generic("InternalError")), 0, nil, 0},
		{"416 with Content-Range", respErr(416, http.Header{"Content-Range": {"bytes */1234"}}, generic("InvalidRange")), 99, ErrRangeNotSatisfiable, 1234},
		{"416 without Content-Range", respErr(416, nil, generic("InvalidRange")), 77, ErrRangeNotSatisfiable, 77},
		{"InvalidRange code only", generic("InvalidRange"), 78, ErrRangeNotSatisfiable, 78},
		{"416, size unknown", respErr(416, nil, errors.New("no body")), -1, ErrRangeNotSatisfiable, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeAPI{getErr: tc.err, headSize: tc.headSize}
			b := &S3{api: fake, bucket: "b"}
			_, err := b.Get(context.Background(), "k", GetOptions{Range: &byterange.Range{First: 5, Last: -1}})
			switch {
			case tc.want == nil:
				if err == nil || errors.Is(err, ErrObjectNotFound) || errors.Is(err, ErrRangeNotSatisfiable) {
					t.Errorf("Get = %v, want an upstream error", err)
				}
				if !errors.Is(err, tc.err) {
					t.Errorf("Get = %v, does not wrap the store's error", err)
				}
			case !errors.Is(err, tc.want):
				t.Errorf("Get = %v, want %v", err, tc.want)
			}
			var re *RangeError
			if errors.As(err, &re) && re.Size != tc.wantSize {
				t.Errorf("RangeError.Size = %d, want %d", re.Size, tc.wantSize)
			}
		})
	}
	t.Run("context", func(t *testing.T) {
		b := &S3{api: &fakeAPI{getErr: &smithy.OperationError{Err: &smithy.CanceledError{Err: context.DeadlineExceeded}}}, bucket: "b"}
		if _, err := b.Get(context.Background(), "k", GetOptions{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Get = %v, want context.DeadlineExceeded", err)
		}
	})
}

// TestS3GetIgnoredRange covers stores that answer a Range with the whole object (200).
func TestS3GetIgnoredRange(t *testing.T) {
	data := []byte("0123456789")
	for _, tc := range []struct {
		rng           byterange.Range
		want          string
		unsatisfiable bool
	}{
		{rng: byterange.Range{First: 2, Last: 4}, want: "234"},
		{rng: byterange.Range{First: -1, Last: 3}, want: "789"},
		{rng: byterange.Range{First: -1, Last: 50}, want: "0123456789"},
		{rng: byterange.Range{First: 0, Last: -1}, want: "0123456789"},
		{rng: byterange.Range{First: 10, Last: -1}, unsatisfiable: true},
	} {
		t.Run(tc.rng.HeaderValue(), func(t *testing.T) {
			a := answer{body: io.NopCloser(bytes.NewReader(data)), length: 10, etag: `"e"`}
			obj, err := openObject(a, &tc.rng)
			if tc.unsatisfiable {
				var re *RangeError
				if !errors.As(err, &re) || re.Size != 10 {
					t.Fatalf("openObject = %v, want RangeError{10}", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := readObject(t, obj)
			if string(got) != tc.want || !obj.Partial || obj.Size != 10 || obj.ETag != "e" {
				t.Errorf("got %q (Partial %v, Size %d, ETag %q), want %q, true, 10, e", got, obj.Partial, obj.Size, obj.ETag, tc.want)
			}
		})
	}
}

func TestNewS3Options(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := S3Options{Bucket: "b", Region: "us-east-1", AccessKey: "a", SecretKey: "s", PartSize: MinPartSize,
		PartConcurrency: 1, ResponseTimeout: time.Second, UploadBudget: NewUploadBudget(MinPartSize)}
	for _, tc := range []struct {
		name    string
		edit    func(*S3Options)
		wantErr string
	}{
		{"valid", func(*S3Options) {}, ""},
		{"default credential chain", func(o *S3Options) { o.AccessKey, o.SecretKey = "", "" }, ""},
		{"no bucket", func(o *S3Options) { o.Bucket = "" }, "bucket is required"},
		{"part too small", func(o *S3Options) { o.PartSize = 1 << 20 }, "part size"},
		{"negative concurrency", func(o *S3Options) { o.PartConcurrency = -1 }, "part concurrency"},
		{"no region", func(o *S3Options) { o.Region = "" }, "region is required"},
		{"no response timeout", func(o *S3Options) { o.ResponseTimeout = 0 }, "response timeout"},
		{"no upload budget", func(o *S3Options) { o.UploadBudget = nil }, "upload budget"},
		{"single put too big", func(o *S3Options) { o.MaxSinglePut = 6 << 30 }, "max single put"},
		{"endpoint without scheme", func(o *S3Options) { o.Endpoint = "minio:9000" }, "endpoint"},
		{"secret without access key", func(o *S3Options) { o.AccessKey = "" }, "without an access key"},
		{"access key without secret", func(o *S3Options) { o.SecretKey = "" }, "without a secret key"},
		{"bad CA file", func(o *S3Options) { o.CAFile = ca }, "no PEM certificate"},
		{"missing CA file", func(o *S3Options) { o.CAFile = ca + ".missing" }, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			b, err := NewS3(context.Background(), o)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewS3: %v", err)
				}
				if b.maxSinglePut != maxSinglePutSize {
					t.Errorf("max single put %d, want S3's limit %d", b.maxSinglePut, int64(maxSinglePutSize))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewS3 = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("all problems at once", func(t *testing.T) {
		_, err := NewS3(context.Background(), S3Options{PartSize: 1, PartConcurrency: -1, Endpoint: "x"})
		for _, want := range []string{"bucket is required", "region", "part size", "part concurrency", "endpoint", "response timeout", "upload budget"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("NewS3 = %v, want it to mention %q", err, want)
			}
		}
	})
}

// checkBudgetFree fails when b's upload budget is not whole again: a part buffer was not
// returned.
func checkBudgetFree(t *testing.T, b *S3) {
	t.Helper()
	if !b.parts.budget.sem.TryAcquire(b.parts.budget.size) {
		t.Error("part buffers not returned to the upload budget")
		return
	}
	b.parts.budget.sem.Release(b.parts.budget.size)
}

// --- test doubles ---

// countingAPI counts the calls made through it and can make one operation fail.
type countingAPI struct {
	s3API

	mu       sync.Mutex
	calls    map[string]int
	failOp   string
	failPart int32
	failErr  error
}

func (c *countingAPI) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

func (c *countingAPI) inject(op string, part int32, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failOp, c.failPart, c.failErr = op, part, err
}

func (c *countingAPI) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		m[k] = v
	}
	return m
}

// count records a call and returns the injected error for it, if any.
func (c *countingAPI) count(op string, part int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
	if op == c.failOp && (c.failPart == 0 || c.failPart == part) {
		return c.failErr
	}
	return nil
}

func (c *countingAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := c.count("PutObject", 0); err != nil {
		return nil, err
	}
	return c.s3API.PutObject(ctx, in, o...)
}

func (c *countingAPI) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	if err := c.count("CreateMultipartUpload", 0); err != nil {
		return nil, err
	}
	return c.s3API.CreateMultipartUpload(ctx, in, o...)
}

func (c *countingAPI) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if err := c.count("UploadPart", *in.PartNumber); err != nil {
		// Consume the part as a store would before failing, so the body moves on.
		_, _ = io.Copy(io.Discard, in.Body)
		return nil, err
	}
	return c.s3API.UploadPart(ctx, in, o...)
}

func (c *countingAPI) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if err := c.count("CompleteMultipartUpload", 0); err != nil {
		return nil, err
	}
	return c.s3API.CompleteMultipartUpload(ctx, in, o...)
}

func (c *countingAPI) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if err := c.count("AbortMultipartUpload", 0); err != nil {
		return nil, err
	}
	return c.s3API.AbortMultipartUpload(ctx, in, o...)
}

// fakeAPI answers GetObject with getErr and HeadObject with headSize (-1: an error).
type fakeAPI struct {
	s3API    // nil: any other call panics
	getErr   error
	headSize int64
}

func (f *fakeAPI) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, f.getErr
}

func (f *fakeAPI) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if f.headSize < 0 {
		return nil, errors.New("head failed")
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(f.headSize)}, nil
}

// memoryMultipartAPI accepts multipart uploads without storing anything.
type memoryMultipartAPI struct {
	s3API // nil: any other call panics

	mu                        sync.Mutex
	parts, completed, aborted int
}

func (m *memoryMultipartAPI) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("upload")}, nil
}

func (m *memoryMultipartAPI) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if _, err := io.Copy(io.Discard, in.Body); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.parts++
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprintf(`"%d"`, *in.PartNumber))}, nil
}

func (m *memoryMultipartAPI) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, p := range in.MultipartUpload.Parts {
		if *p.PartNumber != int32(i+1) || p.ChecksumCRC32 != nil {
			return nil, fmt.Errorf("part %d listed as %d (checksum %v)", i+1, *p.PartNumber, p.ChecksumCRC32)
		}
	}
	m.completed++
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"done-10000"`)}, nil
}

func (m *memoryMultipartAPI) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.aborted++
	return &s3.AbortMultipartUploadOutput{}, nil
}

// recordingTransport records the body-carrying requests it sends and whether one is being
// sent right now.
type recordingTransport struct {
	next http.RoundTripper

	mu       sync.Mutex
	inFlight int
	reqs     []recordedRequest
}

type recordedRequest struct {
	contentLength   int64
	payloadHash     string
	contentEncoding string
	trailer         string
	checksumHeaders string
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPut || req.Body == nil {
		return rt.next.RoundTrip(req)
	}
	var sums []string
	for k := range req.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") || strings.EqualFold(k, "Content-MD5") {
			sums = append(sums, k)
		}
	}
	rt.mu.Lock()
	rt.inFlight++
	rt.reqs = append(rt.reqs, recordedRequest{
		contentLength:   req.ContentLength,
		payloadHash:     req.Header.Get("X-Amz-Content-Sha256"),
		contentEncoding: req.Header.Get("Content-Encoding"),
		trailer:         req.Header.Get("X-Amz-Trailer"),
		checksumHeaders: strings.Join(sums, ","),
	})
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		rt.inFlight--
		rt.mu.Unlock()
	}()
	return rt.next.RoundTrip(req)
}

func (rt *recordingTransport) reset() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.reqs = nil
}

func (rt *recordingTransport) bodies() []recordedRequest {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]recordedRequest(nil), rt.reqs...)
}

func (rt *recordingTransport) sending() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.inFlight > 0
}

// probeReader yields remaining zero bytes and notes whether it was ever read while rec was
// not sending a request (a read ahead by the SDK).
type probeReader struct {
	remaining            int64
	rec                  *recordingTransport
	readOutsideRoundTrip bool
}

func (p *probeReader) Read(b []byte) (int, error) {
	if p.remaining == 0 {
		return 0, io.EOF
	}
	if !p.rec.sending() {
		p.readOutsideRoundTrip = true
	}
	n := int(min(int64(len(b)), p.remaining))
	clear(b[:n])
	p.remaining -= int64(n)
	return n, nil
}

// TestS3BodyCutAttribution: when a download's copy fails, the body says whose failure it
// was — ErrBodyCut when the store's connection broke (a reset, an early end), a plain error
// when the destination did — on the zero-copy path (a TCP destination: splice) and the copy
// path alike, so the handler refunds a hit only when the store cut the download.
func TestS3BodyCutAttribution(t *testing.T) {
	srv := testenv.MinIO(t, false)
	tap := testenv.StartTap(t, strings.TrimPrefix(srv.Endpoint, "http://"))
	b := newTestS3(t, srv, func(o *S3Options) { o.Endpoint = "http://" + tap.Addr })
	putBytes(t, b, "big", testData(8<<20, 7), "")
	if b.fast == nil {
		t.Fatal("the fast path is not in use")
	}
	for _, tc := range []struct {
		name      string
		tcp       bool // the destination is a TCP connection (splice)
		storeCuts bool // the store's side fails, else the destination's
	}{
		{"splice, store resets", true, true},
		{"splice, client resets", true, false},
		{"copy, store resets", false, true},
		{"copy, client fails", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := b.Get(context.Background(), "big", GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Body.Close()
			dst, peer := destination(t, tc.tcp)
			// After about 1 MiB has gone through, one side breaks.
			go func() {
				buf := make([]byte, 64<<10)
				var got int
				for got < 1<<20 {
					n, err := peer.Read(buf)
					if err != nil {
						return
					}
					got += n
				}
				if tc.storeCuts {
					tap.ResetAll()
					_, _ = io.Copy(io.Discard, peer) // the client keeps reading
				} else {
					peer.Close()
				}
			}()
			_, err = obj.Body.(io.WriterTo).WriteTo(dst)
			if err == nil {
				t.Fatal("WriteTo succeeded although a side broke")
			}
			if got := errors.Is(err, ErrBodyCut); got != tc.storeCuts {
				t.Errorf("WriteTo = %v: ErrBodyCut %v, want %v", err, got, tc.storeCuts)
			}
		})
	}
}

// destination returns a writer for a download and the reader at its far end: a TCP
// connection (the far end resets when closed) or a pipe.
func destination(t *testing.T, tcp bool) (io.Writer, io.ReadCloser) {
	t.Helper()
	if !tcp {
		r, w := io.Pipe()
		t.Cleanup(func() { r.Close(); w.Close() })
		return w, r
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	far, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = far.(*net.TCPConn).SetLinger(0)
	t.Cleanup(func() { c.Close(); far.Close() })
	return c, far
}

// TestS3FastIdleExpiry: an idle connection of the fast path is closed once it has sat in the
// pool for the transport's idle timeout, and a request after that dials afresh.
func TestS3FastIdleExpiry(t *testing.T) {
	srv := testenv.MinIO(t, false)
	tap := testenv.StartTap(t, strings.TrimPrefix(srv.Endpoint, "http://"))
	b := newTestS3(t, srv, func(o *S3Options) { o.Endpoint = "http://" + tap.Addr })
	putBytes(t, b, "k", []byte("hello"), "")
	b.fast.close() // a fresh pool with a short timeout
	b.fast.pool = connPool{timeout: 200 * time.Millisecond}
	b.tr.idleTimeout = 200 * time.Millisecond
	if got := getBytes(t, b, "k"); string(got) != "hello" {
		t.Fatalf("Get = %q", got)
	}
	if n := b.fast.pool.idleCount(); n != 1 {
		t.Fatalf("%d idle connections after a GET, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.fast.pool.idleCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle connection was not closed after its idle timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := tap.Conns()
	if got := getBytes(t, b, "k"); string(got) != "hello" {
		t.Fatalf("Get after expiry = %q", got)
	}
	if tap.Conns() != before+1 {
		t.Errorf("%d new connections for the GET after expiry, want 1", tap.Conns()-before)
	}
}

// TestS3FastRetryStopsWithContext: a store that keeps failing is retried with the SDK's
// backoff, but the wait ends as soon as the request's context does.
func TestS3FastRetryStopsWithContext(t *testing.T) {
	var requests atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<Error><Code>SlowDown</Code></Error>")
		cancel() // the client leaves while the gateway would wait to retry
	}))
	defer store.Close()
	o := testS3Options(&testenv.S3{Region: "us-east-1", AccessKey: "a", SecretKey: "b", Endpoint: store.URL})
	o.Bucket = "b"
	b, err := NewS3(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.fast == nil {
		t.Fatal("the fast path is not in use")
	}
	start := time.Now()
	_, err = b.Get(ctx, "k", GetOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Get took %s after its context ended", took)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1 (no retry after the context ended)", n)
	}
}
