package e2e

// The S3 listener with aws-sdk-go-v2's defaults: CRC32 checksums, and over HTTPS an
// unseekable body as aws-chunked with a checksum trailer.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// TestS3APINewSDK: today's aws-sdk-go-v2 over HTTPS — PutObject of a seekable body (a CRC32
// header), of an unseekable one (STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer), a
// multipart upload with CRC32 parts, GetObject with checksum validation on.
func TestS3APINewSDK(t *testing.T) {
	testenv.Integration(t)
	for _, name := range []string{"minio", "versitygw"} {
		t.Run(name, func(t *testing.T) {
			srv := testenv.MinIO(t, false)
			if name == "versitygw" { // stricter: it refuses per-part checksums the upload did not announce
				srv = testenv.VersityGW(t, false)
			}
			testNewSDK(t, newEnvOn(t, srv))
		})
	}
}

func testNewSDK(t *testing.T, env *Env) {
	pair := newCertPair(t, "127.0.0.1")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(pair.cert))
	dir := t.TempDir()
	pair.install(t, dir)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	g := launchGateway(t, "https", env.Config(func(cfg map[string]any) {
		s := section(cfg, "server")
		s["host"] = "https://LISTEN"
		s["tls"] = map[string]any{"cert_file": filepath.Join(dir, "cert.pem"), "key_file": filepath.Join(dir, "key.pem")}
		withS3API(addr)(cfg)
		section(cfg, "s3api")["host"] = "https://" + addr
	}), nil)
	g.waitHealthy(t, h2Client(roots))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	put := mintS3TLS(t, hc, g.URL, `"key":"sdk/one.bin","method":"PUT"`)
	stream := mintS3TLS(t, hc, g.URL, `"key":"sdk/stream.bin","method":"PUT"`)
	multi := mintS3TLS(t, hc, g.URL, `"key":"sdk/multi.bin","method":"PUT"`)
	get := mintS3TLS(t, hc, g.URL, `"prefix":"sdk/","method":"GET"`)
	seen := &payloadModes{next: hc.Transport}
	withHTTP := func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: seen} }
	ctx := context.Background()
	data := randomBytes(6 << 20)

	if _, err := put.sdkClient(withHTTP).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("assets"), Key: aws.String("sdk/one.bin"),
		Body: bytes.NewReader(data[:70000])}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	_, err = stream.sdkClient(withHTTP).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("assets"), Key: aws.String("sdk/stream.bin"),
		Body: struct{ io.Reader }{bytes.NewReader(data)}, ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatalf("PutObject, unseekable with a CRC32 trailer: %v", err)
	}
	sdkMultipart(t, multi.sdkClient(withHTTP), "sdk/multi.bin", data)
	// What the SDK chose, as it sent it: the unseekable bodies went as aws-chunked with a
	// CRC32 trailer.
	if n := seen.count("STREAMING-UNSIGNED-PAYLOAD-TRAILER x-amz-checksum-crc32"); n != 3 {
		t.Fatalf("requests with a CRC32 trailer: got %d (%v), want 3 (a PutObject, two parts)", n, seen.all())
	}
	gc := get.sdkClient(withHTTP)
	for key, want := range map[string][]byte{"sdk/one.bin": data[:70000], "sdk/stream.bin": data, "sdk/multi.bin": data} {
		out, err := gc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("assets"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("GetObject %s: %v", key, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("GetObject %s: %d bytes, %v; want the %d uploaded", key, len(got), err, len(want))
		}
	}
}

// sdkMultipart uploads data as two CRC32-checked parts and completes.
func sdkMultipart(t *testing.T, c *s3.Client, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("assets"), Key: aws.String(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	var parts []types.CompletedPart
	for i, chunk := range [][]byte{data[:5<<20], data[5<<20:]} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("assets"), Key: aws.String(key), UploadId: mp.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: struct{ io.Reader }{bytes.NewReader(chunk)}, ContentLength: aws.Int64(int64(len(chunk))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("assets"), Key: aws.String(key),
		UploadId: mp.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
}

// mintS3TLS mints through an HTTPS control API.
func mintS3TLS(t *testing.T, hc *http.Client, base, fields string) s3Creds {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/token", strings.NewReader(`{"bucket":"assets","s3":true,`+fields+`}`))
	req.Header.Set("Authorization", "Bearer "+controlToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Token string
		S3    s3Creds
	}
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("POST /token: %d %s", resp.StatusCode, b)
	}
	out.S3.Token = out.Token
	return out.S3
}

// payloadModes records each request's x-amz-content-sha256 and x-amz-trailer.
type payloadModes struct {
	next  http.RoundTripper
	mu    sync.Mutex
	modes []string
}

func (p *payloadModes) RoundTrip(r *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.modes = append(p.modes, strings.TrimSpace(r.Header.Get("X-Amz-Content-Sha256")+" "+r.Header.Get("X-Amz-Trailer")))
	p.mu.Unlock()
	return p.next.RoundTrip(r)
}

func (p *payloadModes) count(mode string) int {
	n := 0
	for _, m := range p.all() {
		if m == mode {
			n++
		}
	}
	return n
}

func (p *payloadModes) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.modes...)
}
