package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(b)
	return b
}

// TestSeedFlows runs the seed's upload and download flows through the gateway to MinIO, over
// plain HTTP and over HTTPS with a self-signed certificate.
func TestSeedFlows(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tlsOn], func(t *testing.T) {
			env := newEnv(t, tlsOn)
			gw := startGateway(t, env.Config(nil))
			c := client{t, gw.URL}
			secrets := []string{controlToken, env.S3.AccessKey, env.S3.SecretKey}
			defer func() { assertNoSecrets(t, gw, secrets...) }()

			cases := []struct {
				name    string
				size    int
				chunked bool
			}{
				{"small with length", 1000, false},
				{"small chunked", 1000, true},
				{"12MiB with length", 12 << 20, false},
				{"12MiB chunked (multipart)", 12 << 20, true},
				{"empty", 0, false},
			}
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					content := randomBytes(tc.size)
					key := fmt.Sprintf("uploads/%d/報告 %d.bin", i, tc.size)
					put := c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"PUT","size":%d}`, key, tc.size))
					secrets = append(secrets, put)
					var body io.Reader = bytes.NewReader(content)
					if tc.chunked {
						body = io.MultiReader(bytes.NewReader(content))
					}
					resp, out := c.do("PUT", "/object/"+put, body, "Content-Type", "application/x-test")
					if resp.StatusCode != 200 {
						t.Fatalf("PUT: got %d %s", resp.StatusCode, out)
					}
					var up struct {
						ETag string
						Size int64
					}
					_ = jsonUnmarshal(out, &up)
					if up.Size != int64(tc.size) {
						t.Fatalf("PUT size: got %d, want %d", up.Size, tc.size)
					}
					st := c.record(put, "/status")
					if st["uploaded"] != true || st["object_exists"] != true || st["object_size"] != float64(tc.size) || st["etag"] != up.ETag {
						t.Fatalf("status: got %v", st)
					}
					// The object really is in the bucket, with its type.
					h, err := env.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &env.Bucket, Key: &key})
					if err != nil || aws.ToString(h.ContentType) != "application/x-test" || aws.ToInt64(h.ContentLength) != int64(tc.size) {
						t.Fatalf("HeadObject in MinIO: %v %v", err, h)
					}

					get := c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"GET","filename":"報告 final.bin","max_hits":2}`, key))
					secrets = append(secrets, get)
					resp, got := c.do("GET", "/object/"+get, nil)
					if resp.StatusCode != 200 || !bytes.Equal(got, content) {
						t.Fatalf("GET: got %d and %d bytes, want 200 and %d", resp.StatusCode, len(got), len(content))
					}
					_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
					if err != nil || params["filename"] != "報告 final.bin" {
						t.Fatalf("Content-Disposition %q: %v", resp.Header.Get("Content-Disposition"), err)
					}
					if resp.Header.Get("ETag") != `"`+up.ETag+`"` || resp.Header.Get("Content-Type") != "application/x-test" {
						t.Fatalf("GET headers: %v", resp.Header)
					}
					if tc.size > 10 {
						resp, got = c.do("GET", "/object/"+get, nil, "Range", "bytes=5-9")
						if resp.StatusCode != 206 || !bytes.Equal(got, content[5:10]) ||
							resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 5-9/%d", tc.size) {
							t.Fatalf("range: got %d %q %q", resp.StatusCode, got, resp.Header.Get("Content-Range"))
						}
					} else {
						c.do("GET", "/object/"+get, nil)
					}
					resp, got = c.do("GET", "/object/"+get, nil)
					wantCode(t, "third GET", resp, got, 409, "hits_exceeded")
					if resp, _ := c.do("HEAD", "/object/"+get, nil); resp.StatusCode != 200 || resp.ContentLength != int64(tc.size) {
						t.Fatalf("HEAD: got %d length %d", resp.StatusCode, resp.ContentLength)
					}
				})
			}
		})
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestExactHitsAcrossReplicas: three gateway processes share one Redis; 300 concurrent GETs
// spread over them on a max_hits=5 token → exactly 5 downloads.
func TestExactHitsAcrossReplicas(t *testing.T) {
	env := newEnv(t, false)
	cfg := env.Config(nil)
	gws := []*Gateway{startGateway(t, cfg), startGateway(t, cfg), startGateway(t, cfg)}
	c := client{t, gws[0].URL}
	put := c.mint(`{"bucket":"assets","key":"hits/obj","method":"PUT"}`)
	if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("payload")); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	get := c.mint(`{"bucket":"assets","key":"hits/obj","method":"GET","max_hits":5}`)
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 100}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i := range 300 {
		wg.Add(1)
		go func(gw *Gateway) {
			defer wg.Done()
			resp, err := hc.Get(gw.URL + "/object/" + get)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			switch {
			case resp.StatusCode == 200 && string(body) == "payload":
				ok.Add(1)
			case resp.StatusCode == 409:
				refused.Add(1)
			default:
				t.Errorf("got %d %s", resp.StatusCode, body)
			}
		}(gws[i%3])
	}
	wg.Wait()
	if ok.Load() != 5 || refused.Load() != 295 {
		t.Fatalf("got %d served and %d refused, want 5 and 295", ok.Load(), refused.Load())
	}
	if rec := c.record(get, ""); rec["used_hits"] != 5.0 {
		t.Fatalf("used_hits: got %v, want 5", rec["used_hits"])
	}
	// Deleting on one replica stops the token on every replica at once.
	if resp, _ := c.do("DELETE", "/token/"+get, nil, "Authorization", "Bearer "+controlToken); resp.StatusCode != 204 {
		t.Fatalf("DELETE: got %d", resp.StatusCode)
	}
	for _, gw := range gws {
		resp, body := client{t, gw.URL}.do("HEAD", "/object/"+get, nil)
		_ = body
		if resp.StatusCode != 404 {
			t.Fatalf("HEAD after DELETE on %s: got %d, want 404", gw.URL, resp.StatusCode)
		}
	}
}

// TestOversizeUploadsLeaveNothing: over-limit uploads, declared and chunked (multipart in
// progress when the limit is crossed), leave no object and no multipart upload behind.
func TestOversizeUploadsLeaveNothing(t *testing.T) {
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(nil))
	c := client{t, gw.URL}
	const limit = 11 << 20
	put := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"big/over.bin","method":"PUT","size":%d}`, limit))
	content := randomBytes(limit + 1)

	resp, body := c.do("PUT", "/object/"+put, bytes.NewReader(content))
	wantCode(t, "declared too large", resp, body, 413, "size_exceeded")
	resp, body = c.do("PUT", "/object/"+put, io.MultiReader(bytes.NewReader(content)))
	wantCode(t, "chunked too large", resp, body, 413, "size_exceeded")

	ctx := context.Background()
	_, err := env.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &env.Bucket, Key: aws.String("big/over.bin")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || (ae.ErrorCode() != "NotFound" && ae.ErrorCode() != "NoSuchKey") {
		t.Fatalf("HeadObject after refused uploads: got %v, want not found", err)
	}
	mp, err := env.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &env.Bucket})
	if err != nil || len(mp.Uploads) != 0 {
		t.Fatalf("multipart uploads left: %v %v", err, mp.Uploads)
	}
	st := c.record(put, "/status")
	if st["used_hits"] != 0.0 || st["object_exists"] != false {
		t.Fatalf("status: got %v, want the hit refunded and no object", st)
	}
	// The refunded hit lets the client retry with a body that fits.
	resp, body = c.do("PUT", "/object/"+put, io.MultiReader(bytes.NewReader(content[:limit])))
	if resp.StatusCode != 200 {
		t.Fatalf("retry within the limit: got %d %s", resp.StatusCode, body)
	}
}

// TestErrorCodes drives every code of the contract's table through the real binary.
func TestErrorCodes(t *testing.T) {
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		section(cfg, "token")["max_ttl"] = "1h"
		section(cfg, "server")["max_control_body"] = "2KiB"
		buckets := section(cfg, "buckets")
		missing := map[string]any{}
		for k, v := range buckets["assets"].(map[string]any) {
			missing[k] = v
		}
		missing["bucket"] = "no-such-bucket-here"
		buckets["gone"] = missing
	}))
	c := client{t, gw.URL}
	auth := []string{"Authorization", "Bearer " + controlToken}
	mint := func(body string) (*http.Response, []byte) {
		return c.do("POST", "/token", strings.NewReader(body), auth...)
	}
	put := c.mint(`{"bucket":"assets","key":"codes/obj","method":"PUT","size":5}`)
	if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("12345")); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	get := c.mint(`{"bucket":"assets","key":"codes/obj","method":"GET","max_hits":1}`)
	getMissing := c.mint(`{"bucket":"assets","key":"codes/none","method":"GET"}`)
	getGone := c.mint(`{"bucket":"gone","key":"codes/obj","method":"GET"}`)
	short := c.mint(`{"bucket":"assets","key":"codes/obj","method":"GET","expires_in":1}`)
	c.mint(`{"bucket":"assets","key":"a","method":"GET","token":"fixed-token-for-conflict"}`)
	small := c.mint(`{"bucket":"assets","key":"codes/small","method":"PUT","size":3}`)

	type call func() (*http.Response, []byte)
	cases := []struct {
		name   string
		call   call
		status int
		code   string
	}{
		{"bad_request", func() (*http.Response, []byte) { return mint(`{"bucket":"nope","key":"a","method":"GET"}`) }, 400, "bad_request"},
		{"unauthorized", func() (*http.Response, []byte) { return c.do("POST", "/token", strings.NewReader("{}")) }, 401, "unauthorized"},
		{"forbidden", func() (*http.Response, []byte) {
			return c.do("POST", "/token", strings.NewReader("{}"), "Authorization", "Bearer wrong")
		}, 403, "forbidden"},
		{"token_not_found", func() (*http.Response, []byte) { return c.do("GET", "/object/no-such-token-0123456789", nil) }, 404, "token_not_found"},
		{"object_not_found", func() (*http.Response, []byte) { return c.do("GET", "/object/"+getMissing, nil) }, 404, "object_not_found"},
		{"method_not_allowed", func() (*http.Response, []byte) { return c.do("PUT", "/object/"+get, strings.NewReader("x")) }, 405, "method_not_allowed"},
		{"token_exists", func() (*http.Response, []byte) {
			return mint(`{"bucket":"assets","key":"a","method":"GET","token":"fixed-token-for-conflict"}`)
		}, 409, "token_exists"},
		{"range_not_satisfiable", func() (*http.Response, []byte) { return c.do("GET", "/object/"+get, nil, "Range", "bytes=99-") }, 416, "range_not_satisfiable"},
		{"hits_exceeded", func() (*http.Response, []byte) {
			c.do("GET", "/object/"+get, nil)
			return c.do("GET", "/object/"+get, nil)
		}, 409, "hits_exceeded"},
		{"size_exceeded", func() (*http.Response, []byte) { return c.do("PUT", "/object/"+small, strings.NewReader("toolong")) }, 413, "size_exceeded"},
		{"request_too_large", func() (*http.Response, []byte) {
			return mint(`{"bucket":"assets","method":"GET","key":"` + strings.Repeat("k", 3000) + `"}`)
		}, 413, "request_too_large"},
		{"upstream_error", func() (*http.Response, []byte) { return c.do("GET", "/object/"+getGone, nil) }, 502, "upstream_error"},
		{"token_expired", func() (*http.Response, []byte) {
			deadline := time.Now().Add(5 * time.Second)
			for {
				resp, b := c.do("GET", "/object/"+short, nil)
				if resp.StatusCode != 200 || time.Now().After(deadline) {
					return resp, b
				}
				time.Sleep(100 * time.Millisecond)
			}
		}, 410, "token_expired"},
		{"store_unavailable", func() (*http.Response, []byte) {
			env.Redis.Stop()
			return c.do("GET", "/object/"+put, nil)
		}, 503, "store_unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.call()
			wantCode(t, tc.name, resp, body, tc.status, tc.code)
		})
	}
	// Recovery without a restart: Redis comes back (AOF on), the gateway serves again.
	env.Redis.Restart(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := c.do("HEAD", "/object/"+put, nil)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis restart: HEAD still %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGracefulShutdown: SIGTERM while a download is in flight lets it finish, then exits 0.
func TestGracefulShutdown(t *testing.T) {
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(nil))
	c := client{t, gw.URL}
	content := randomBytes(32 << 20)
	put := c.mint(`{"bucket":"assets","key":"shutdown/obj","method":"PUT"}`)
	if resp, b := c.do("PUT", "/object/"+put, bytes.NewReader(content)); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	get := c.mint(`{"bucket":"assets","key":"shutdown/obj","method":"GET"}`)
	resp, err := http.Get(gw.URL + "/object/" + get)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", err, resp)
	}
	defer resp.Body.Close()
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	_ = gw.cmd.Process.Signal(syscall.SIGTERM)
	// Read the rest slowly enough that shutdown has to wait for us.
	var rest bytes.Buffer
	buf := make([]byte, 1<<20)
	for {
		n, err := resp.Body.Read(buf)
		rest.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("download cut by shutdown after %d bytes: %v", len(first)+rest.Len(), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := append(first, rest.Bytes()...); !bytes.Equal(got, content) {
		t.Fatalf("downloaded %d bytes, want the %d-byte object intact", len(got), len(content))
	}
	gw.Stop(t)
	if !strings.Contains(gw.Log(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", gw.Log())
	}
}

// TestEmbeddedExample runs config.yaml.example as shipped (embedded store, local directory)
// and the seed's two flows against it.
func TestEmbeddedExample(t *testing.T) {
	example, err := os.ReadFile("../config.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, strings.Replace(string(example), "127.0.0.1:8080", "LISTEN", 1))
	c := client{t, gw.URL}
	if !strings.Contains(gw.Log(), "token_store_embedded") {
		t.Fatalf("the embedded store is not announced in the log:\n%s", gw.Log())
	}
	exampleToken := "control-token-1"
	resp, body := c.do("POST", "/token", strings.NewReader(`{"bucket":"local","key":"docs/report.pdf","method":"PUT"}`),
		"Authorization", "Bearer "+exampleToken)
	if resp.StatusCode != 201 {
		t.Fatalf("POST /token: %d %s", resp.StatusCode, body)
	}
	var put struct{ Token string }
	_ = json.Unmarshal(body, &put)
	if resp, b := c.do("PUT", "/object/"+put.Token, strings.NewReader("%PDF-1.4 test"), "Content-Type", "application/pdf"); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	_, body = c.do("POST", "/token", strings.NewReader(`{"bucket":"local","key":"docs/report.pdf","method":"GET","filename":"report.pdf"}`),
		"Authorization", "Bearer "+exampleToken)
	var get struct{ Token string }
	_ = json.Unmarshal(body, &get)
	resp, body = c.do("GET", "/object/"+get.Token, nil)
	if resp.StatusCode != 200 || string(body) != "%PDF-1.4 test" || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("GET: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf` {
		t.Fatalf("Content-Disposition: got %q", got)
	}
}

// TestConfigErrorsExit: a broken configuration exits non-zero and names every problem.
func TestConfigErrorsExit(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte(`server:
  listen: "nope"
  lisen: ":8080"
control:
  tokens: []
buckets:
  a:
    driver: s3
    credential: missing
`), 0o600)
	out, err := exec.Command(binary, "-config", cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("got %v, want a non-zero exit", err)
	}
	for _, want := range []string{"server.listen", "server.lisen", "server.host", "control.tokens", "buckets.a.bucket", "buckets.a.credential"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not name %s:\n%s", want, out)
		}
	}
}
