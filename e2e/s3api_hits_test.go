package e2e

// The S3 listener's hits counted exactly once across two replicas, revocation seen by every
// replica, a tampered chunk signature refused before anything is stored, and abandoned
// multipart uploads ended by the janitor — with Redis and MinIO behind.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// TestS3APIHitsAcrossReplicas: 50 concurrent GetObject calls on a max_hits 5 token, half on
// each of two replicas: exactly 5 succeed; then a revocation on one replica stops the
// credentials on the other.
func TestS3APIHitsAcrossReplicas(t *testing.T) {
	testenv.Integration(t)
	env := newEnv(t, false)
	g1, g2 := startS3Gateway(t, env), startS3Gateway(t, env)
	env.putDirect(t, "hot/object.bin", []byte("a hot object"))
	c := client{t, g1.URL}
	cr := c.mintS3(`"key":"hot/object.bin","method":"GET","max_hits":5`)
	on2 := cr
	on2.Endpoint = g2.S3URL
	clients := []*s3.Client{cr.sdkClient(), on2.sdkClient()}
	var served, exhausted atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := clients[i%2].GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("assets"), Key: aws.String("hot/object.bin")})
			var ae smithy.APIError
			switch {
			case err == nil:
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if string(b) == "a hot object" {
					served.Add(1)
				}
			case errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied" && strings.Contains(ae.ErrorMessage(), "no hits left"):
				exhausted.Add(1)
			default:
				t.Errorf("GetObject: %v", err)
			}
		}()
	}
	wg.Wait()
	if served.Load() != 5 || exhausted.Load() != 45 || c.usedHits(cr.Token) != 5 {
		t.Fatalf("got %d served, %d exhausted, used_hits %d; want 5, 45, 5", served.Load(), exhausted.Load(), c.usedHits(cr.Token))
	}

	live := c.mintS3(`"key":"hot/object.bin","method":"HEAD"`)
	live2 := live
	live2.Endpoint = g2.S3URL
	if _, err := live2.sdkClient().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("assets"), Key: aws.String("hot/object.bin")}); err != nil {
		t.Fatalf("HeadObject on the second replica: %v", err)
	}
	client{t, g2.URL}.revoke(live.Token)
	_, err := live.sdkClient().ListBuckets(context.Background(), &s3.ListBucketsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" || !strings.Contains(ae.ErrorMessage(), "revoked") {
		t.Fatalf("on the first replica after a revocation on the second: got %v, want AccessDenied (revoked)", err)
	}
}

// TestS3APITamperedChunk: mc uploads with signed aws-chunked bodies over HTTP; a proxy flips
// one digit of the first chunk's signature. mc prints SignatureDoesNotMatch, nothing is
// stored, the hit goes back, and the same upload without the proxy then succeeds.
func TestS3APITamperedChunk(t *testing.T) {
	testenv.Integration(t)
	mc := requireClients(t)
	env := newEnv(t, false)
	g := startS3Gateway(t, env)
	target, err := url.Parse(g.S3URL)
	if err != nil {
		t.Fatal(err)
	}
	var tampered atomic.Int32
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the Host mc signed
		if strings.HasPrefix(pr.In.Header.Get("X-Amz-Content-Sha256"), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") {
			pr.Out.Body = &flipChunkSignature{r: bufio.NewReader(pr.In.Body), c: pr.In.Body, done: &tampered}
		}
	}})
	t.Cleanup(proxy.Close)
	c := client{t, g.URL}
	cr := c.mintS3(`"key":"mc/tampered.bin","method":"PUT"`)
	src := writeRandom(t, t.TempDir(), "body.bin", 300<<10)
	through := cr
	through.Endpoint = proxy.URL
	wantRefused(t, "mc: tampered chunk signature", through.mc(t, mc, "cp", src, "gw/assets/mc/tampered.bin"),
		"signature we calculated does not match")
	if tampered.Load() == 0 {
		t.Fatal("mc sent no signed aws-chunked body: nothing was tampered with")
	}
	if err := env.objectAbsent("mc/tampered.bin"); err != nil {
		t.Fatalf("after the tampered upload: %v", err)
	}
	if n := c.usedHits(cr.Token); n != 0 {
		t.Fatalf("used_hits after the tampered upload: %d, want 0", n)
	}
	wantOK(t, "mc cp without the proxy", cr.mc(t, mc, "cp", src, "gw/assets/mc/tampered.bin"))
}

// flipChunkSignature passes an aws-chunked body on with one hex digit of its first chunk
// signature changed.
type flipChunkSignature struct {
	r    *bufio.Reader
	c    io.Closer
	line []byte // the first chunk's header, modified, not yet passed on
	read bool
	done *atomic.Int32
}

func (f *flipChunkSignature) Read(p []byte) (int, error) {
	if !f.read {
		f.read = true
		line, err := f.r.ReadBytes('\n')
		if i := bytes.Index(line, []byte("chunk-signature=")); i >= 0 && i+16 < len(line) {
			d := &line[i+16]
			*d = map[bool]byte{true: '1', false: '0'}[*d == '0']
			f.done.Add(1)
		}
		f.line = line
		if err != nil && len(line) == 0 {
			return 0, err
		}
	}
	if len(f.line) > 0 {
		n := copy(p, f.line)
		f.line = f.line[n:]
		return n, nil
	}
	return f.r.Read(p)
}

func (f *flipChunkSignature) Close() error { return f.c.Close() }

// TestS3APIAbandonedMultipart: a multipart upload left open past its token's expiry is
// aborted in MinIO by the janitor, and its hit goes back to the token.
func TestS3APIAbandonedMultipart(t *testing.T) {
	testenv.Integration(t)
	env := newEnv(t, false)
	g := startS3Gateway(t, env)
	c := client{t, g.URL}
	cr := c.mintS3(`"key":"left/behind.bin","method":"PUT","expires_in":2`)
	sc := cr.sdkClient()
	ctx := context.Background()
	mp, err := sc.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("assets"), Key: aws.String("left/behind.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("assets"), Key: aws.String("left/behind.bin"), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(randomBytes(1 << 20))}); err != nil {
		t.Fatal(err)
	}
	if err := env.objectAbsent("left/behind.bin"); err == nil || !strings.Contains(err.Error(), "multipart") {
		t.Fatalf("before the janitor: %v, want an open multipart upload", err)
	}
	ok := pollUntil(30*time.Second, func() bool {
		return env.objectAbsent("left/behind.bin") == nil && c.usedHits(cr.Token) == 0
	})
	if !ok {
		t.Fatalf("30 s past expiry: %v, used_hits %d; want the upload aborted and the hit back", env.objectAbsent("left/behind.bin"), c.usedHits(cr.Token))
	}
}
