// Package e2e runs the real assetgateway binary — several processes at once — against a real
// redis-server and a real MinIO, and drives it over HTTP as a user would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

const controlToken = "e2e-control-token"

var binary string // built once in TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ag-e2e-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "assetgateway")
	out, err := exec.Command("go", "build", "-o", binary, "github.com/assetgateway/assetgateway/cmd/assetgateway").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building assetgateway: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	testenv.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Gateway is one running assetgateway process.
type Gateway struct {
	URL    string
	Config string
	cmd    *exec.Cmd
	logMu  sync.Mutex
	log    bytes.Buffer
	done   chan struct{}
}

// Log returns everything the process wrote so far.
func (g *Gateway) Log() string {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	return g.log.String()
}

type lockedWriter struct{ g *Gateway }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.g.logMu.Lock()
	defer w.g.logMu.Unlock()
	return w.g.log.Write(p)
}

// startGateway writes config (with the listen address filled in) and starts the binary.
func startGateway(t *testing.T, configYAML string) *Gateway {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := &Gateway{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Config: filepath.Join(dir, "config.yaml"), done: make(chan struct{})}
	cfg := strings.ReplaceAll(configYAML, "LISTEN", fmt.Sprintf("127.0.0.1:%d", port))
	if err := os.WriteFile(g.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.start(t)
	return g
}

func (g *Gateway) start(t *testing.T) {
	t.Helper()
	g.done = make(chan struct{})
	g.cmd = exec.Command(binary, "-config", g.Config, "-log-level", "debug")
	g.cmd.Stdout = lockedWriter{g}
	g.cmd.Stderr = lockedWriter{g}
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() { g.Kill() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(g.URL + "/healthz")
		if err == nil {
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

// Kill sends SIGKILL and waits.
func (g *Gateway) Kill() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// Stop sends SIGTERM and waits for a clean exit.
func (g *Gateway) Stop(t *testing.T) {
	t.Helper()
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not stop within 30s of SIGTERM:\n%s", g.Log())
	}
	if code := g.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("gateway exit code %d after SIGTERM:\n%s", code, g.Log())
	}
}

// Env is a Redis + MinIO pair with a bucket, and the config that points at them.
type Env struct {
	Redis  *testenv.Redis
	S3     *testenv.S3
	Bucket string
	Client *s3.Client
}

var bucketSeq int

func newEnv(t *testing.T, tls bool) *Env {
	t.Helper()
	return newEnvOn(t, testenv.MinIO(t, tls))
}

// newEnvOn is newEnv on another S3 server (versitygw).
func newEnvOn(t *testing.T, srv *testenv.S3) *Env {
	t.Helper()
	tls := srv.CAFile != ""
	e := &Env{Redis: testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always"), S3: srv}
	bucketSeq++
	e.Bucket = fmt.Sprintf("e2e-%d-%d", os.Getpid(), bucketSeq)
	httpClient := http.DefaultClient
	if tls {
		httpClient = tlsClient(t, e.S3.CAFile)
	}
	e.Client = s3.New(s3.Options{
		Region:       e.S3.Region,
		BaseEndpoint: aws.String(e.S3.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(e.S3.AccessKey, e.S3.SecretKey, ""),
		HTTPClient:   httpClient,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := e.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.Bucket)})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create bucket: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return e
}

// Config returns a gateway configuration on this environment; edit may change it (nil: as is).
// "LISTEN" is replaced by the gateway's address when it starts.
func (e *Env) Config(edit func(cfg map[string]any)) string {
	bucket := map[string]any{
		"bucket": e.Bucket, "region": e.S3.Region, "endpoint": e.S3.Endpoint,
		"credential": "minio", "force_path_style": true, "part_size": "5MiB",
	}
	if e.S3.CAFile != "" {
		bucket["ca_file"] = e.S3.CAFile
	}
	cfg := map[string]any{
		"server":      map[string]any{"listen": "LISTEN", "host": "https://gw.example.com", "shutdown_timeout": "10s"},
		"redis":       map[string]any{"addr": e.Redis.Addr},
		"control":     map[string]any{"tokens": []string{controlToken}},
		"credentials": map[string]any{"minio": map[string]any{"access_key": e.S3.AccessKey, "secret_key": e.S3.SecretKey}},
		"buckets":     map[string]any{"assets": bucket},
		"callback":    map[string]any{"allow_private": true, "timeout": "2s", "retries": []string{"100ms", "200ms", "400ms"}},
	}
	if edit != nil {
		edit(cfg)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return string(out)
}

// section returns cfg[name] as a map, creating it.
func section(cfg map[string]any, name string) map[string]any {
	m, ok := cfg[name].(map[string]any)
	if !ok {
		m = map[string]any{}
		cfg[name] = m
	}
	return m
}

// client is a tiny control-API client.
type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

func (c client) mint(fields string) string {
	c.t.Helper()
	resp, body := c.do("POST", "/token", strings.NewReader(fields), "Authorization", "Bearer "+controlToken)
	if resp.StatusCode != 201 {
		c.t.Fatalf("POST /token %s: got %d %s", fields, resp.StatusCode, body)
	}
	var out struct{ Token, URL string }
	if err := json.Unmarshal(body, &out); err != nil {
		c.t.Fatal(err)
	}
	if !strings.HasSuffix(out.URL, "/object/"+out.Token) {
		c.t.Fatalf("url %q does not end in /object/%s", out.URL, out.Token)
	}
	return out.Token
}

func (c client) record(tok string, path string) map[string]any {
	c.t.Helper()
	resp, body := c.do("GET", "/token/"+tok+path, nil, "Authorization", "Bearer "+controlToken)
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET /token/%s: got %d %s", path, resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// wantCode checks a contract error.
func wantCode(t *testing.T, what string, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var e map[string]string
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != status || e["code"] != code {
		t.Fatalf("%s: got %d %s, want %d %s", what, resp.StatusCode, body, status, code)
	}
}

// assertNoSecrets fails if the gateway's log contains any of the secrets.
func assertNoSecrets(t *testing.T, g *Gateway, secrets ...string) {
	t.Helper()
	log := g.Log()
	if log == "" {
		t.Fatal("empty gateway log")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the gateway log contains a secret (%d characters, starting %.4s…)", len(s), s)
		}
	}
}
