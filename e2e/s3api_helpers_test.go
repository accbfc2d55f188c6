package e2e

// Helpers for the S3 listener's tests: a gateway with s3api on, tokens with S3 credentials,
// and the S3 clients nobody here wrote — Debian's aws CLI and boto3, and mc — run against it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

const s3Secret = "e2e-s3api-server-key-0123456789abcdef"

// Debian's clients, by absolute path: a pyenv aws or python3 earlier on PATH would be
// another client (or lack boto3).
const (
	awsCLI  = "/usr/bin/aws"
	python3 = "/usr/bin/python3"
)

// s3Gateway is a gateway with its S3 listener on.
type s3Gateway struct {
	*Gateway
	S3URL string
}

// withS3API turns the listener on at addr (host:port).
func withS3API(addr string) func(map[string]any) {
	return func(cfg map[string]any) {
		cfg["s3api"] = map[string]any{"listen": addr, "host": "http://" + addr, "secret": s3Secret}
	}
}

// startS3Gateway starts a gateway on env with the S3 listener on a free port; more edits
// apply after.
func startS3Gateway(t *testing.T, env *Env, more ...func(map[string]any)) *s3Gateway {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	g := startGatewayEnv(t, env.Config(func(cfg map[string]any) {
		withS3API(addr)(cfg)
		section(cfg, "uploads")["janitor_interval"] = "1s"
		for _, f := range more {
			f(cfg)
		}
	}), nil)
	return &s3Gateway{Gateway: g, S3URL: "http://" + addr}
}

// s3Creds is the "s3" member of a mint's answer.
type s3Creds struct {
	Token           string `json:"-"`
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	Bucket          string `json:"bucket"`
	Key             string `json:"key"`
	Prefix          string `json:"prefix"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// mintS3 mints a token with "s3": true on the alias "assets" (fields: more JSON members).
func (c client) mintS3(fields string) s3Creds {
	c.t.Helper()
	resp, body := c.do("POST", "/token", strings.NewReader(`{"bucket":"assets","s3":true,`+fields+`}`),
		"Authorization", "Bearer "+controlToken)
	if resp.StatusCode != 201 {
		c.t.Fatalf("POST /token %s: got %d %s", fields, resp.StatusCode, body)
	}
	var out struct {
		Token string
		S3    s3Creds
	}
	if err := json.Unmarshal(body, &out); err != nil || out.S3.AccessKeyID == "" {
		c.t.Fatalf("POST /token %s: %s (%v)", fields, body, err)
	}
	out.S3.Token = out.Token
	minted.add(out.Token, out.S3.SecretAccessKey)
	return out.S3
}

// minted are the tokens and derived secrets the tests minted, for assertNoSecrets.
var minted secretList

type secretList struct {
	mu  sync.Mutex
	all []string
}

func (l *secretList) add(s ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, s...)
}

func (l *secretList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

// revoke deletes a token.
func (c client) revoke(tok string) {
	c.t.Helper()
	if resp, body := c.do("DELETE", "/token/"+tok, nil, "Authorization", "Bearer "+controlToken); resp.StatusCode != 204 {
		c.t.Fatalf("DELETE /token: %d %s", resp.StatusCode, body)
	}
}

// sdkClient is an aws-sdk-go-v2 client with the credentials, its defaults otherwise (the
// CRC32 checksums of today's SDKs), no retries.
func (cr s3Creds) sdkClient(opts ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:           cr.Region,
		BaseEndpoint:     aws.String(cr.Endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(cr.AccessKeyID, cr.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	}, opts...)
}

// run is one client command's outcome.
type run struct {
	out, err string
	code     int
}

func (r run) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, strings.TrimSpace(r.out), strings.TrimSpace(r.err))
}

// exec runs a client with env added and a deadline.
func execClient(t *testing.T, env []string, name string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{out: out.String(), err: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return r
}

// requireClients fails (never skips) when a client is missing, with the command that
// installs it.
func requireClients(t *testing.T) (mc string) {
	t.Helper()
	for _, p := range []string{awsCLI, python3} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s missing: apt-get install -y awscli python3-boto3 (or run scripts/test.sh)", p)
		}
	}
	if err := exec.Command(python3, "-c", "import boto3").Run(); err != nil {
		t.Fatalf("boto3 missing for %s: apt-get install -y python3-boto3 (or run scripts/test.sh)", python3)
	}
	mc, err := testenv.LookBin("mc")
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

// aws runs Debian's aws CLI with the credentials, path-style, against their endpoint.
func (cr s3Creds) aws(t *testing.T, args ...string) run {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "config")
	if err := os.WriteFile(conf, []byte("[default]\nregion = "+cr.Region+"\ns3 =\n  addressing_style = path\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + cr.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + cr.SecretAccessKey,
		"AWS_CONFIG_FILE=" + conf, "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "HOME=" + dir}
	return execClient(t, env, awsCLI, append([]string{"--endpoint-url", cr.Endpoint, "--no-cli-pager"}, args...)...)
}

// boto3 runs a Python snippet with `s3` a boto3 client of the credentials (path style, s3v4)
// and `bucket`, `key`, `prefix` set.
func (cr s3Creds) boto3(t *testing.T, snippet string) run {
	t.Helper()
	script := `import sys, json, boto3, botocore
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
    region_name=sys.argv[4], config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1}))
bucket, key, prefix = sys.argv[5], sys.argv[6], sys.argv[7]
` + snippet
	path := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	return execClient(t, []string{"HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true"}, python3, path,
		cr.Endpoint, cr.AccessKeyID, cr.SecretAccessKey, cr.Region, cr.Bucket, cr.Key, cr.Prefix)
}

// mc runs mc with an alias "gw" of the credentials (its own config folder per call).
func (cr s3Creds) mc(t *testing.T, bin string, args ...string) run {
	t.Helper()
	dir := t.TempDir()
	env := []string{"MC_CONFIG_DIR=" + dir, "MC_NO_COLOR=1", "MC_DISABLE_PAGER=1"}
	if r := execClient(t, env, bin, "alias", "set", "gw", cr.Endpoint, cr.AccessKeyID, cr.SecretAccessKey, "--api", "s3v4", "--path", "on"); r.code != 0 {
		t.Fatalf("mc alias set: %v", r)
	}
	return execClient(t, env, bin, append([]string{"--no-color", "--disable-pager"}, args...)...)
}

// wantOK fails unless the command succeeded.
func wantOK(t *testing.T, what string, r run) run {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: %v", what, r)
	}
	return r
}

// wantRefused fails unless the command failed printing every one of want; it logs what the
// client printed (the report's evidence).
func wantRefused(t *testing.T, what string, r run, want ...string) {
	t.Helper()
	printed := r.out + r.err
	for _, w := range want {
		if r.code == 0 || !strings.Contains(printed, w) {
			t.Fatalf("%s: want a failure printing %q; got %v", what, w, r)
		}
	}
	t.Logf("%s: the client printed: %s", what, lastLine(printed))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// writeRandom writes n random bytes to a file in dir and returns its path.
func writeRandom(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b := randomBytes(n)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sameFile fails unless two files hold the same bytes.
func sameFile(t *testing.T, what, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s: %d bytes differ from the %d uploaded", what, len(y), len(x))
	}
}
