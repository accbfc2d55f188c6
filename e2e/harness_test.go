package e2e

// Helpers for the fault, hostile-input and Sentinel tests: gateways started with extra flags,
// goroutine counts from the debug listener, S3 endpoints behind a tap or a toxiproxy, and
// HTTP clients that keep no idle connections (so they leave nothing behind in the gateway).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// startGatewayArgs is startGateway with extra command-line flags (e.g. -debug-addr).
func startGatewayArgs(t *testing.T, configYAML string, args ...string) *Gateway {
	t.Helper()
	return startGatewayEnv(t, configYAML, nil, args...)
}

// startGatewayEnv is startGatewayArgs with extra environment variables ("NAME=value").
func startGatewayEnv(t *testing.T, configYAML string, env []string, args ...string) *Gateway {
	t.Helper()
	g := launchGateway(t, "http", configYAML, env, args...)
	g.waitHealthy(t, plainClient(time.Second))
	return g
}

// launchGateway writes the config (with the listen address filled in) and starts the binary
// with extra environment variables, without waiting for it; its URL has the given scheme.
func launchGateway(t *testing.T, scheme, configYAML string, env []string, args ...string) *Gateway {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := &Gateway{URL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, port), Config: filepath.Join(dir, "config.yaml"), done: make(chan struct{})}
	cfg := strings.ReplaceAll(configYAML, "LISTEN", fmt.Sprintf("127.0.0.1:%d", port))
	if err := os.WriteFile(g.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(binary, append([]string{"-config", g.Config, "-log-level", "debug"}, args...)...)
	g.cmd.Env = append(os.Environ(), env...)
	g.cmd.Stdout = lockedWriter{g}
	g.cmd.Stderr = lockedWriter{g}
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() { g.Kill() })
	return g
}

// waitHealthy polls /healthz with hc until it answers 200, failing after 10 s or if the
// process exits.
func (g *Gateway) waitHealthy(t *testing.T, hc *http.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := hc.Get(g.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-g.done:
			t.Fatalf("gateway exited during start-up:\n%s", g.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not healthy after 10s:\n%s", g.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// plainClient is an HTTP client that opens a fresh connection per request and keeps none.
func plainClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
}

// goroutines reads the gateway's goroutine count from its pprof listener.
func goroutines(t *testing.T, debugAddr string) int {
	t.Helper()
	resp, err := plainClient(5 * time.Second).Get("http://" + debugAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("goroutine profile: %v", err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatalf("goroutine profile: %v", err)
	}
	// "goroutine profile: total 42"
	n, err := strconv.Atoi(strings.TrimSpace(line[strings.LastIndex(line, " ")+1:]))
	if err != nil {
		t.Fatalf("goroutine profile first line %q: %v", line, err)
	}
	return n
}

// endpointHost returns the host:port of an http:// endpoint.
func endpointHost(t *testing.T, endpoint string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// withEndpoint points the "assets" alias at another address (a tap or a toxiproxy proxy in
// front of the env's MinIO) and applies more edits.
func withEndpoint(addr string, more ...func(map[string]any)) func(map[string]any) {
	return func(cfg map[string]any) {
		section(cfg, "buckets")["assets"].(map[string]any)["endpoint"] = "http://" + addr
		for _, f := range more {
			f(cfg)
		}
	}
}

// putDirect stores an object in the env's bucket without going through the gateway.
func (e *Env) putDirect(t *testing.T, key string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := e.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.Bucket, Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

// objectAbsent reports whether key is absent from the bucket and no multipart upload of it is
// left open; the error says what is there.
func (e *Env) objectAbsent(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := e.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.Bucket, Key: aws.String(key)})
	var ae smithy.APIError
	if err == nil {
		return fmt.Errorf("object %s exists", key)
	}
	if !errors.As(err, &ae) || (ae.ErrorCode() != "NotFound" && ae.ErrorCode() != "NoSuchKey") {
		return fmt.Errorf("HeadObject %s: %v", key, err)
	}
	mp, err := e.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.Bucket, Prefix: aws.String(key)})
	if err != nil {
		return fmt.Errorf("ListMultipartUploads: %v", err)
	}
	if len(mp.Uploads) > 0 {
		return fmt.Errorf("%d multipart uploads of %s left open", len(mp.Uploads), key)
	}
	return nil
}

// usedHits reads a token's used_hits through the control API.
func (c client) usedHits(tok string) int {
	c.t.Helper()
	rec := c.record(tok, "")
	n, ok := rec["used_hits"].(float64)
	if !ok {
		c.t.Fatalf("record without used_hits: %v", rec)
	}
	return int(n)
}

// waitUsedHits polls until used_hits is want, failing after within.
func (c client) waitUsedHits(tok string, want int, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := c.usedHits(tok)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("used_hits: got %d after %s, want %d", got, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outcome is what one request got: a status and a contract code, or a transport error.
type outcome struct {
	status int
	code   string
	body   []byte
	err    error
	took   time.Duration
	hdr    http.Header
}

// try sends one request with hc and never fails the test: faults make errors expected.
func try(hc *http.Client, method, u string, body io.Reader, hdr ...string) outcome {
	start := time.Now()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return outcome{err: err}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return outcome{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	o := outcome{status: resp.StatusCode, body: b, err: err, took: time.Since(start), hdr: resp.Header}
	var e struct{ Code string }
	if json.Unmarshal(b, &e) == nil {
		o.code = e.Code
	}
	return o
}

func (o outcome) String() string {
	if o.err != nil && o.status == 0 {
		return fmt.Sprintf("error %v after %s", o.err, o.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d %s after %s", o.status, bytes.TrimSpace(o.body), o.took.Round(time.Millisecond))
}

// customToken returns a well-formed custom token that is unique in this test binary.
func customToken(prefix string, i int) string {
	return fmt.Sprintf("%s-%d-%06d-%d", prefix, os.Getpid(), i, time.Now().UnixNano()%1e6)
}

// pollUntil polls cond every 10 ms until it holds (true) or within passes (false).
func pollUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
