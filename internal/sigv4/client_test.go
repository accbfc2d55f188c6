package sigv4

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// fakeS3 verifies every request with the package and answers like a tiny S3, recording what
// it saw. It is the listener's shape: Verify, then Body, then WriteError on any failure.
type fakeS3 struct {
	v    *Verifier
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, path string
	auth         *Auth
	body         []byte
	header       http.Header
	err          error
}

func (f *fakeS3) last(t *testing.T) seenRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the server saw no request")
	}
	return f.seen[len(f.seen)-1]
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seenRequest{method: r.Method, path: r.URL.Path, header: r.Header.Clone()}
	s.auth, s.err = f.v.Verify(r)
	if s.err == nil {
		s.body, s.err = io.ReadAll(s.auth.Body(r.Body))
	}
	f.mu.Lock()
	f.seen = append(f.seen, s)
	f.mu.Unlock()
	if s.err != nil {
		WriteError(w, r, s.err, "test-request")
		return
	}
	q := r.URL.Query()
	switch {
	case r.Method == "POST" && q.Has("uploads"):
		_, _ = io.WriteString(w, `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == "GET" && q.Get("list-type") == "2":
		_, _ = io.WriteString(w, `<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount></ListBucketResult>`)
	case r.Method == "PUT":
		w.Header().Set("ETag", `"etag"`)
	case r.Method == "DELETE":
		w.WriteHeader(http.StatusNoContent)
	default: // GET and HEAD of an object
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	}
}

// newClient returns an aws-sdk-go-v2 S3 client of the server, path style, no retries.
func newClient(srv *httptest.Server, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		HTTPClient:       srv.Client(),
		Credentials:      credentials.NewStaticCredentialsProvider(testAKID, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func startFake(t *testing.T, tls bool) (*fakeS3, *httptest.Server) {
	f := &fakeS3{v: &Verifier{Region: testRegion, Secret: secrets(map[string]string{testAKID: testSecret})}}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(f)
	} else {
		srv = httptest.NewServer(f)
	}
	t.Cleanup(srv.Close)
	return f, srv
}

var clientKeys = []string{"plain.txt", "with space.txt", "ünïcødé/文件", "plus+sign", "percent%2F", "tilde~", "double//slash", "trailing/", "!*'()&$@=;:,?#[]"}

// TestSDKClient drives the real aws-sdk-go-v2 S3 client through the verifier: over HTTP it
// signs the payload's SHA-256 and sends a checksum header; over HTTPS it streams aws-chunked
// with an unsigned checksum trailer.
func TestSDKClient(t *testing.T) {
	for _, tls := range []bool{false, true} {
		f, srv := startFake(t, tls)
		c := newClient(srv, testSecret)
		ctx := context.Background()
		// Over HTTPS the SDK sends UNSIGNED-PAYLOAD with a checksum header, or, when asked
		// for a checksum algorithm, aws-chunked with the checksum as an unsigned trailer.
		wantMode, wantChecksumMode := PayloadSHA256, PayloadSHA256
		if tls {
			wantMode, wantChecksumMode = PayloadUnsigned, PayloadStreamingUnsignedTrailer
		}
		name := map[bool]string{false: "http", true: "https"}[tls]
		for _, key := range clientKeys {
			t.Run(name+"/put "+key, func(t *testing.T) {
				body := testData(70000)
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), Body: bytes.NewReader(body)})
				s := f.last(t)
				if err != nil || s.err != nil {
					t.Fatalf("client: %v; server: %v", err, s.err)
				}
				if s.auth.Payload != wantMode || !bytes.Equal(s.body, body) || s.auth.DecodedLength != int64(len(body)) {
					t.Fatalf("got mode %v, %d bytes, decoded length %d", s.auth.Payload, len(s.body), s.auth.DecodedLength)
				}
			})
		}
		for _, alg := range types.ChecksumAlgorithm("").Values() {
			if strings.HasPrefix(string(alg), "XXHASH") || alg == types.ChecksumAlgorithmMd5 {
				continue // the SDK cannot compute these (it says so) and neither can we
			}
			t.Run(name+"/put checksum "+string(alg), func(t *testing.T) {
				body := []byte("checksummed")
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("k"), Body: bytes.NewReader(body), ChecksumAlgorithm: alg})
				s := f.last(t)
				if err != nil || s.err != nil {
					t.Fatalf("client: %v; server: %v", err, s.err)
				}
				if !hasChecksum(s.header, "x-amz-checksum-"+strings.ToLower(string(alg))) || s.auth.Payload != wantChecksumMode {
					t.Fatalf("got mode %v; want %v and the %s checksum: %v", s.auth.Payload, wantChecksumMode, alg, s.header)
				}
			})
		}
		t.Run(name+"/other operations", func(t *testing.T) { sdkOperations(t, f, c) })
	}
}

// hasChecksum reports whether the checksum came as a header or was announced as the trailer.
func hasChecksum(h http.Header, name string) bool {
	return h.Get(name) != "" || strings.EqualFold(h.Get("X-Amz-Trailer"), name)
}

func sdkOperations(t *testing.T, f *fakeS3, c *s3.Client) {
	ctx := context.Background()
	b, k := aws.String("bucket"), aws.String("dir/a b+c")
	calls := []struct {
		name string
		call func() error
	}{
		{"get", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, Range: aws.String("bytes=0-4")})
			return err
		}},
		{"get with checksum mode", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, ChecksumMode: types.ChecksumModeEnabled})
			return err
		}},
		{"head", func() error { _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k}); return err }},
		{"delete", func() error { _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k}); return err }},
		{"list", func() error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, Prefix: aws.String("a b+c/ü"), Delimiter: aws.String("/")})
			return err
		}},
		{"create multipart", func() error {
			_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
			return err
		}},
		{"upload part", func() error {
			_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: aws.String("up/1 x"), PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
			return err
		}},
		{"put with metadata", func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("x"),
				Metadata: map[string]string{"note": "a  b"}, ContentType: aws.String("text/plain"), ContentMD5: aws.String(md5Base64("x"))})
			return err
		}},
	}
	for _, tc := range calls {
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if s := f.last(t); s.err != nil {
			t.Errorf("%s: server: %v", tc.name, s.err)
		}
	}
}

// TestSDKPresignClient uses URLs from s3.PresignClient with a plain HTTP client.
func TestSDKPresignClient(t *testing.T) {
	f, srv := startFake(t, false)
	p := s3.NewPresignClient(newClient(srv, testSecret), s3.WithPresignExpires(10*time.Minute))
	ctx := context.Background()
	for _, key := range clientKeys {
		get, err := p.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		put, err := p.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), ContentType: aws.String("text/plain")})
		if err != nil {
			t.Fatal(err)
		}
		for _, req := range []struct {
			method, url string
			header      http.Header
			body        string
		}{{get.Method, get.URL, get.SignedHeader, ""}, {put.Method, put.URL, put.SignedHeader, "uploaded"}} {
			r, err := http.NewRequest(req.method, req.url, strings.NewReader(req.body))
			if err != nil {
				t.Fatal(err)
			}
			for h, vs := range req.header {
				if h != "Host" {
					r.Header[h] = vs
				}
			}
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := f.last(t)
			if resp.StatusCode/100 != 2 || s.err != nil || !s.auth.Presigned || string(s.body) != req.body {
				t.Fatalf("%s %s: status %d, server %v", req.method, key, resp.StatusCode, s.err)
			}
		}
	}
}

// TestSDKSeesS3Errors checks a real client reads WriteError's documents as S3's.
func TestSDKSeesS3Errors(t *testing.T) {
	_, srv := startFake(t, false)
	ctx := context.Background()
	tests := []struct {
		name   string
		client *s3.Client
		want   string
	}{
		{"wrong secret", newClient(srv, "wrong"), CodeSignatureDoesNotMatch},
		{"unknown key", s3.New(s3.Options{Region: testRegion, BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, HTTPClient: srv.Client(),
			Credentials: credentials.NewStaticCredentialsProvider("NOBODY", testSecret, ""), RetryMaxAttempts: 1}), CodeInvalidAccessKeyID},
		{"wrong region", s3.New(s3.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, HTTPClient: srv.Client(),
			Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""), RetryMaxAttempts: 1}), CodeHeaderMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.want {
				t.Fatalf("got %v, want API error %s", err, tt.want)
			}
		})
	}
}

func md5Base64(s string) string {
	sum := md5.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}
