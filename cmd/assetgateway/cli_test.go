package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/client"
	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/s3api"
	"github.com/assetgateway/assetgateway/internal/token"
)

const cliControl = "control-token-for-cli-tests"

// cliGateway is an in-process gateway (api + proxy + embedded store + a directory bucket
// "local", and an S3 bucket "s3" on a fake store whose tokens can redirect) for the
// subcommands to talk to.
type cliGateway struct {
	url  string
	api  *client.Client
	dead *cliDeadLetters
	s3   *cliStore
}

func newCLIGateway(t *testing.T) *cliGateway {
	t.Helper()
	files, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	store := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour})
	t.Cleanup(func() { store.Close() })
	dead := &cliDeadLetters{}
	fake := &cliStore{objects: map[string]cliObject{}}
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(fakeSrv.Close)
	s3, err := objstore.NewS3(context.Background(), objstore.S3Options{Bucket: "b", Endpoint: fakeSrv.URL, ForcePathStyle: true,
		AccessKey: "ak", SecretKey: "sk", Region: "us-east-1", PartSize: objstore.MinPartSize, PartConcurrency: 1, ResponseTimeout: 5 * time.Second,
		UploadBudget: objstore.NewUploadBudget(objstore.MinPartSize)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Close() })
	objects := proxy.New(proxy.Options{Store: store, Buckets: map[string]objstore.Backend{"local": files, "s3": s3}})
	srv := httptest.NewServer(api.New(api.Options{
		MaxBody:       1 << 20,
		Tokens:        store,
		Objects:       objects,
		Buckets:       map[string]api.Bucket{"local": files, "s3": s3},
		Redirects:     map[string]bool{"s3": objstore.CanPresign(s3)},
		ControlTokens: []string{cliControl},
		Host:          "http://gateway.invalid", // the CLI must work with the url it is given
		MaxTTL:        24 * time.Hour,
		DeadLetters:   dead,
		S3:            &api.S3{Credentials: s3api.NewKeys("cli-test-s3-listener-key-0123456789"), Endpoint: "http://s3.gateway.invalid", Region: "us-east-1"},
	}))
	t.Cleanup(srv.Close)
	return &cliGateway{url: srv.URL, api: client.New(srv.URL, cliControl), dead: dead, s3: fake}
}

// cliDeadLetters is a hand-written DeadLetters with one failed webhook.
type cliDeadLetters struct {
	mu       sync.Mutex
	replayed []string
}

func (d *cliDeadLetters) DeadLetters(context.Context, int) ([]callback.DeadLetter, error) {
	return []callback.DeadLetter{{ID: "msg_1", Target: "https://hooks.example.com/in", Attempts: 8, LastStatus: 500,
		FailedAt: time.Unix(1760000000, 0), Event: callback.Event{Event: callback.EventAccess, Method: "GET", Status: 200}}}, nil
}

func (d *cliDeadLetters) Replay(_ context.Context, id string) error {
	if id != "msg_1" {
		return callback.ErrNotFound
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.replayed = append(d.replayed, id)
	return nil
}

// mint creates a token through the client package.
func (g *cliGateway) mint(t *testing.T, req client.CreateRequest) *client.Created {
	t.Helper()
	if req.Bucket == "" {
		req.Bucket = "local"
	}
	created, err := g.api.CreateToken(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// objectURL is the token's URL on the test server (the gateway's Host is fake).
func (g *cliGateway) objectURL(c *client.Created) string { return g.url + "/object/" + c.Token }

// put stores content under key.
func (g *cliGateway) put(t *testing.T, key, content string) {
	t.Helper()
	created := g.mint(t, client.CreateRequest{Key: key, Method: client.MethodPut})
	if _, err := g.api.Upload(context.Background(), g.objectURL(created), strings.NewReader(content), int64(len(content)), "text/plain"); err != nil {
		t.Fatal(err)
	}
}

// invocation is one CLI invocation's setup and result.
type invocation struct {
	env      map[string]string
	stdin    io.Reader
	terminal bool // stdin and stderr are terminals

	stdout, stderr string
	code           int
}

// cli runs the subcommand in-process.
func (r *invocation) cli(t *testing.T, args ...string) *invocation {
	t.Helper()
	var stdout, stderr bytes.Buffer
	stdin := r.stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	c := &cli{
		stdin:      stdin,
		stdout:     &stdout,
		stderr:     &stderr,
		getenv:     func(k string) string { return r.env[k] },
		isTerminal: func(any) bool { return r.terminal },
		now:        time.Now,
	}
	r.code = c.run(context.Background(), args)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// env is the usual environment: the test gateway and its control token.
func (g *cliGateway) env() map[string]string {
	return map[string]string{envGateway: g.url, envControl: cliControl}
}

func (r *invocation) want(t *testing.T, code int, stderrHas ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Fatalf("stderr %q does not contain %q", r.stderr, s)
		}
	}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, s)
	}
	return v
}

func TestCLIHelp(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string // in stdout (exit 0) or stderr
	}{
		{[]string{"help"}, 0, "Usage: assetgateway <command>"},
		{[]string{"--help"}, 0, "Commands for the control API"},
		{[]string{"help", "token", "create"}, 0, "--expires-in DURATION"},
		{[]string{"help", "download"}, 0, "--force"},
		{[]string{"token", "create", "-h"}, 0, "--max-hits N"},
		{[]string{"token", "get", "--help"}, 0, "Usage: assetgateway token get TOKEN"},
		{[]string{"token", "help"}, 0, "token status TOKEN"},
		{[]string{"upload", "-h"}, 0, "--content-type TYPE"},
		{[]string{"download", "-h"}, 0, "--range RANGE"},
		{[]string{"callbacks", "retry", "-h"}, 0, "callbacks retry ID"},
		{[]string{"help", "token", "create"}, 0, "--content-type-allowed TYPE"},
		{[]string{"token", "create-batch", "-h"}, 0, "Usage: assetgateway token create-batch FILE|-"},
		{[]string{"help", "list"}, 0, "--after KEY"},
		{[]string{"list", "-h"}, 0, "LIST token"},
		{[]string{"delete", "--help"}, 0, "Usage: assetgateway delete [flags] OBJECT-URL"},
		{[]string{"help"}, 0, "token create-batch"},
		{[]string{"help", "nope"}, 2, `no help for "nope"`},
		{nil, 2, "Usage: assetgateway <command>"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"token"}, 2, "Usage: assetgateway token"},
		{[]string{"token", "frob"}, 2, `unknown command "frob"`},
		{[]string{"callbacks"}, 2, "Usage: assetgateway callbacks"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := (&invocation{}).cli(t, tc.args...)
			out := r.stdout
			if tc.code != 0 {
				out = r.stderr
			}
			if r.code != tc.code || !strings.Contains(out, tc.out) {
				t.Fatalf("got %d, stdout %q, stderr %q; want %d with %q", r.code, r.stdout, r.stderr, tc.code, tc.out)
			}
		})
	}
}

func TestCLIToken(t *testing.T) {
	g := newCLIGateway(t)
	env := g.env()

	r := (&invocation{env: env}).cli(t, "token", "create", "--bucket", "local", "--key", "docs/a.txt", "--method", "get",
		"--filename", "a.txt", "--expires-in", "1h", "--max-hits", "3", "--callback", "https://hooks.example.com/x",
		"--token", "cli-token-000000001")
	r.want(t, 0)
	created := decode[client.Created](t, r.stdout)
	if created.Token != "cli-token-000000001" || created.Method != "GET" || created.Filename != "a.txt" ||
		created.URL != "http://gateway.invalid/object/cli-token-000000001" {
		t.Fatalf("created: %+v", created)
	}
	if !strings.Contains(r.stdout, "\n  \"token\": ") {
		t.Fatalf("output is not indented JSON: %q", r.stdout)
	}

	r = (&invocation{env: env}).cli(t, "token", "get", created.Token)
	r.want(t, 0)
	rec := decode[client.Token](t, r.stdout)
	if rec.MaxHits != 3 || rec.Key != "docs/a.txt" || rec.Callback != "https://hooks.example.com/x" || rec.ExpireAt != created.ExpireAt || rec.Size != -1 {
		t.Fatalf("record: %+v", rec)
	}
	if d := rec.ExpireAt - time.Now().Unix(); d < 3590 || d > 3600 {
		t.Fatalf("--expires-in 1h: expire_at is %ds away", d)
	}

	r = (&invocation{env: env}).cli(t, "token", "status", created.Token)
	r.want(t, 0)
	if st := decode[client.Status](t, r.stdout); st.ObjectExists || st.Token.Token != created.Token {
		t.Fatalf("status: %+v", st)
	}

	// Flags may follow the argument.
	r = (&invocation{env: env}).cli(t, "token", "delete", created.Token, "--quiet")
	r.want(t, 0)
	if del := decode[map[string]any](t, r.stdout); del["deleted"] != true || del["token"] != created.Token {
		t.Fatalf("delete: %s", r.stdout)
	}
	r = (&invocation{env: env}).cli(t, "token", "get", created.Token)
	r.want(t, 1, "token_not_found", "HTTP 404", "request id")
	if r.stdout != "" {
		t.Fatalf("stdout on error: %q", r.stdout)
	}

	// PUT defaults, a size with a unit, an absolute expiry.
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	r = (&invocation{env: env}).cli(t, "token", "create", "--bucket=local", "--key=up.bin", "--method=PUT",
		"--size", "1MiB", "--expire-at", at.UTC().Format(time.RFC3339))
	r.want(t, 0)
	put, err := g.api.GetToken(context.Background(), decode[client.Created](t, r.stdout).Token)
	if err != nil {
		t.Fatal(err)
	}
	if rec := put; rec.Size != 1<<20 || rec.MaxHits != 1 || rec.ExpireAt != at.Unix() {
		t.Fatalf("record: %+v", rec)
	}
	r = (&invocation{env: env}).cli(t, "token", "create", "--bucket=local", "--key=up.bin", "--method", "PUT", "--max-hits", "-1", "--size", "-1")
	r.want(t, 0)
	if rec, err := g.api.GetToken(context.Background(), decode[client.Created](t, r.stdout).Token); err != nil || rec.MaxHits != -1 || rec.Size != -1 {
		t.Fatalf("negative flag values: %+v, %v", rec, err)
	}
}

func TestCLITokenErrors(t *testing.T) {
	g := newCLIGateway(t)
	env := g.env()
	create := []string{"token", "create", "--bucket", "local", "--key", "k", "--method", "GET"}
	cases := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"missing flags", env, []string{"token", "create", "--key", "k"}, 2, "missing --bucket, --method"},
		{"bad method", env, []string{"token", "create", "--bucket", "b", "--key", "k", "--method", "POST"}, 2, "want GET, HEAD, PUT, DELETE or LIST"},
		{"both expiries", env, append(create, "--expires-in", "60", "--expire-at", "1900000000"), 2, "not both"},
		{"bad duration", env, append(create, "--expires-in", "soon"), 2, "--expires-in"},
		{"sub-second", env, append(create, "--expires-in", "1500ms"), 2, "whole number of seconds"},
		{"bad size", env, append(create, "--size", "lots"), 2, "--size"},
		{"bad hits", env, append(create, "--max-hits", "many"), 2, "--max-hits"},
		{"unknown flag", env, append(create, "--max-hit", "1"), 2, "flag provided but not defined: -max-hit"},
		{"stray argument", env, append(create, "extra"), 2, `unexpected argument "extra"`},
		{"no token argument", env, []string{"token", "get"}, 2, "missing argument"},
		{"no control token", map[string]string{envGateway: g.url}, []string{"token", "get", "abcdefghijklmnop"}, 2, envControl},
		{"gateway refuses", env, []string{"token", "create", "--bucket", "nope", "--key", "k", "--method", "GET", "--max-hits", "0"}, 1,
			"assetgateway: bad_request: bucket: unknown bucket alias \"nope\"; max_hits: must be a positive number"},
		{"wrong control token", map[string]string{envGateway: g.url, envControl: "wrong-token"}, []string{"token", "get", "abcdefghijklmnop"}, 1, "forbidden"},
		{"unreachable gateway", map[string]string{envGateway: "http://127.0.0.1:1", envControl: cliControl}, []string{"token", "get", "abcdefghijklmnop"}, 1, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := (&invocation{env: tc.env}).cli(t, tc.args...)
			r.want(t, tc.code, tc.stderr)
			if strings.Contains(r.stderr, cliControl) {
				t.Fatal("stderr reveals the control token")
			}
		})
	}
}

func TestCLIControlTokenFlag(t *testing.T) {
	g := newCLIGateway(t)
	tok := g.mint(t, client.CreateRequest{Key: "k", Method: client.MethodGet}).Token
	// From the flag, with a warning; --gateway overrides the environment.
	env := map[string]string{envGateway: "http://127.0.0.1:1"}
	r := (&invocation{env: env}).cli(t, "token", "get", "--gateway", g.url, "--control-token", cliControl, tok)
	r.want(t, 0, "warning: --control-token is visible to other users", envControl)
	r = (&invocation{env: env}).cli(t, "token", "get", "--quiet", "--gateway", g.url, "--control-token", cliControl, tok)
	r.want(t, 0)
	if r.stderr != "" {
		t.Fatalf("--quiet: stderr %q", r.stderr)
	}
	// From the environment: no warning.
	r = (&invocation{env: g.env()}).cli(t, "token", "get", tok)
	r.want(t, 0)
	if r.stderr != "" {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestCLICallbacks(t *testing.T) {
	g := newCLIGateway(t)
	r := (&invocation{env: g.env()}).cli(t, "callbacks", "failed", "--limit", "10")
	r.want(t, 0)
	list := decode[[]client.FailedCallback](t, r.stdout)
	if len(list) != 1 || list[0].ID != "msg_1" || list[0].FailedAt != 1760000000 {
		t.Fatalf("list: %+v", list)
	}
	r = (&invocation{env: g.env()}).cli(t, "callbacks", "retry", "msg_1")
	r.want(t, 0)
	if got := decode[map[string]any](t, r.stdout); got["id"] != "msg_1" || got["queued"] != true {
		t.Fatalf("retry: %s", r.stdout)
	}
	(&invocation{env: g.env()}).cli(t, "callbacks", "retry", "msg_2").want(t, 1, "not_found")
	(&invocation{env: g.env()}).cli(t, "callbacks", "failed", "--limit", "5000").want(t, 2, "--limit")
}

func TestCLIUpload(t *testing.T) {
	g := newCLIGateway(t)
	env := map[string]string{} // object commands need neither the gateway nor a control token
	dir := t.TempDir()
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("hello notes"), 0o644); err != nil {
		t.Fatal(err)
	}

	put := g.mint(t, client.CreateRequest{Key: "notes", Method: client.MethodPut})
	r := (&invocation{env: env}).cli(t, "upload", g.objectURL(put), file)
	r.want(t, 0)
	if up := decode[client.Uploaded](t, r.stdout); up.Size != 11 || up.ETag == "" {
		t.Fatalf("upload: %s", r.stdout)
	}
	if r.stderr != "" {
		t.Fatalf("not a terminal, yet stderr has %q", r.stderr)
	}
	get := g.mint(t, client.CreateRequest{Key: "notes", Method: client.MethodGet})
	info, err := g.api.Head(context.Background(), g.objectURL(get))
	if err != nil || info.ContentType != "text/plain; charset=utf-8" || info.Size != 11 {
		t.Fatalf("stored: %+v, %v", info, err)
	}

	// Standard input (here not a file: chunked), a bare token resolved against --gateway,
	// an explicit content type, and a progress bar on a "terminal".
	put = g.mint(t, client.CreateRequest{Key: "piped", Method: client.MethodPut})
	r = (&invocation{env: env, stdin: strings.NewReader("piped data")}).cli(t, "upload", "--gateway", g.url, "--content-type", "application/x-test", put.Token, "-")
	r.want(t, 0)
	if up := decode[client.Uploaded](t, r.stdout); up.Size != 10 {
		t.Fatalf("upload: %s", r.stdout)
	}
	get = g.mint(t, client.CreateRequest{Key: "piped", Method: client.MethodGet})
	if info, err := g.api.Head(context.Background(), g.objectURL(get)); err != nil || info.ContentType != "application/x-test" {
		t.Fatalf("stored: %+v, %v", info, err)
	}

	// A file's upload on a terminal draws the bar to 100%.
	put = g.mint(t, client.CreateRequest{Key: "bar", Method: client.MethodPut})
	r = (&invocation{env: env, terminal: true}).cli(t, "upload", g.objectURL(put), file)
	r.want(t, 0, "\rupload  11 B / 11 B  100% [####################]")
	if !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("progress line not ended: %q", r.stderr)
	}

	// Refusals.
	(&invocation{env: env, terminal: true}).cli(t, "upload", g.objectURL(put)).want(t, 2, "standard input is a terminal")
	(&invocation{env: env}).cli(t, "upload").want(t, 2, "missing argument")
	(&invocation{env: env}).cli(t, "upload", g.objectURL(put), filepath.Join(dir, "missing")).want(t, 1, "no such file")
	(&invocation{env: env}).cli(t, "upload", g.objectURL(put), dir).want(t, 1, "is a directory")
	(&invocation{env: env}).cli(t, "upload", g.objectURL(put), file).want(t, 1, "hits_exceeded") // used up above
	small := g.mint(t, client.CreateRequest{Key: "small", Method: client.MethodPut, Size: new(int64(4))})
	(&invocation{env: env}).cli(t, "upload", g.objectURL(small), file).want(t, 1, "size_exceeded", "HTTP 413")
	(&invocation{env: env, stdin: strings.NewReader("too large")}).cli(t, "upload", g.objectURL(small)).want(t, 1, "size_exceeded")
}

func TestCLIDownload(t *testing.T) {
	g := newCLIGateway(t)
	env := map[string]string{}
	const content = "0123456789"
	g.put(t, "d/file.txt", content)
	dir := t.TempDir()
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	hits := func(c *client.Created) int64 {
		t.Helper()
		rec, err := g.api.GetToken(context.Background(), c.Token)
		if err != nil {
			t.Fatal(err)
		}
		return rec.UsedHits
	}

	// To a named file; the path is printed.
	get := g.mint(t, client.CreateRequest{Key: "d/file.txt", Method: client.MethodGet})
	named := filepath.Join(dir, "named.txt")
	r := (&invocation{env: env}).cli(t, "download", g.objectURL(get), named)
	r.want(t, 0)
	if r.stdout != named+"\n" || read(named) != content {
		t.Fatalf("stdout %q, file %q", r.stdout, read(named))
	}
	// Never overwritten without --force, and refused before the hit is spent.
	before := hits(get)
	(&invocation{env: env}).cli(t, "download", g.objectURL(get), named).want(t, 1, "refusing to overwrite")
	if hits(get) != before {
		t.Fatal("a refused overwrite consumed a hit")
	}
	(&invocation{env: env}).cli(t, "download", g.objectURL(get), filepath.Join(dir, "no", "such", "dir")).want(t, 1, "no such file or directory")
	if hits(get) != before {
		t.Fatal("a download into a missing directory consumed a hit")
	}
	(&invocation{env: env}).cli(t, "download", "--force", "--range", "0-3", g.objectURL(get), named).want(t, 0)
	if read(named) != "0123" {
		t.Fatalf("after --force --range: %q", read(named))
	}

	// To standard output, with a range.
	r = (&invocation{env: env}).cli(t, "download", "--range", "-3", g.objectURL(get), "-")
	r.want(t, 0)
	if r.stdout != "789" {
		t.Fatalf("stdout %q", r.stdout)
	}

	// Into a directory under the offered name, made safe; again: a numbered name.
	offered := g.mint(t, client.CreateRequest{Key: "d/file.txt", Method: client.MethodGet, Filename: "../../etc/说明?.txt"})
	want := filepath.Join(dir, "_.._etc_说明_.txt")
	for i, path := range []string{want, filepath.Join(dir, "_.._etc_说明_ (1).txt")} {
		r = (&invocation{env: env}).cli(t, "download", g.objectURL(offered), dir)
		r.want(t, 0)
		if r.stdout != path+"\n" || read(path) != content {
			t.Fatalf("download %d: stdout %q", i, r.stdout)
		}
	}

	// No FILE: the current directory, under the URL's last segment when nothing is offered,
	// with a progress bar on a "terminal".
	t.Chdir(dir)
	r = (&invocation{env: env, terminal: true}).cli(t, "download", g.objectURL(get))
	r.want(t, 0, "\rdownload  10 B / 10 B  100% [####################]")
	if r.stdout != get.Token+"\n" || read(get.Token) != content {
		t.Fatalf("stdout %q", r.stdout)
	}
	// --quiet: no bar even on a terminal.
	r = (&invocation{env: env, terminal: true}).cli(t, "download", "--quiet", g.objectURL(get), "-")
	r.want(t, 0)
	if r.stderr != "" {
		t.Fatalf("--quiet: stderr %q", r.stderr)
	}

	// Refusals leave no file behind.
	once := g.mint(t, client.CreateRequest{Key: "d/file.txt", Method: client.MethodGet, MaxHits: new(int64(1))})
	(&invocation{env: env}).cli(t, "download", g.objectURL(once), "-").want(t, 0)
	(&invocation{env: env}).cli(t, "download", g.objectURL(once), filepath.Join(dir, "x")).want(t, 1, "hits_exceeded", "HTTP 409")
	missing := g.mint(t, client.CreateRequest{Key: "d/missing", Method: client.MethodGet})
	(&invocation{env: env}).cli(t, "download", g.objectURL(missing), filepath.Join(dir, "x")).want(t, 1, "object_not_found")
	(&invocation{env: env}).cli(t, "download", "--range", "100-", g.objectURL(get), filepath.Join(dir, "x")).want(t, 1, "range_not_satisfiable")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.Name() == "x" {
			t.Fatalf("left behind: %s", e.Name())
		}
	}
	(&invocation{env: env}).cli(t, "download").want(t, 2, "missing argument")
	(&invocation{env: env}).cli(t, "download", "a", "b", "c").want(t, 2, `unexpected argument "c"`)
}

func TestPlace(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dest := write("a.txt", "old")
	// A name the user gave, taken during the download: the data is kept beside it.
	saved, err := place(write(".tmp1", "new"), dest, false, true)
	if err == nil || saved != filepath.Join(dir, "a (1).txt") || !strings.Contains(err.Error(), saved) {
		t.Fatalf("got %q, %v", saved, err)
	}
	// A name from the download: the next free number, no error.
	if saved, err = place(write(".tmp2", "newer"), dest, false, false); err != nil || saved != filepath.Join(dir, "a (2).txt") {
		t.Fatalf("got %q, %v", saved, err)
	}
	// --force replaces.
	if saved, err = place(write(".tmp3", "forced"), dest, true, true); err != nil || saved != dest {
		t.Fatalf("got %q, %v", saved, err)
	}
	for name, want := range map[string]string{"a.txt": "forced", "a (1).txt": "new", "a (2).txt": "newer"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != want {
			t.Errorf("%s: got %q, want %q", name, b, want)
		}
	}
}

func TestSafeName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"说明 README.md", "说明 README.md"},
		{"../../etc/passwd", "_.._etc_passwd"},
		{"..", ""},
		{".bashrc", "bashrc"},
		{"a\\b", "a_b"},
		{"evil\u202etxt.exe", "evil_txt.exe"},
		{"line\nbreak\x00", "line_break_"},
		{"  spaced  ", "spaced"},
		{"C:report", "C_report"},
		{strings.Repeat("é", 200), strings.Repeat("é", 127)},
	}
	for _, tc := range cases {
		if got := safeName(tc.in); got != tc.want {
			t.Errorf("safeName(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := downloadName("", "http://gw/object/tok-123"); got != "tok-123" {
		t.Errorf("downloadName: got %q", got)
	}
	if got := downloadName("..", "http://gw/"); got != "download" {
		t.Errorf("downloadName: got %q", got)
	}
}

func TestParseFlagsValues(t *testing.T) {
	sizes := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"-1", -1, true}, {"0", 0, true}, {"1500", 1500, true}, {"64KiB", 64 << 10, true}, {"1 MiB", 1 << 20, true},
		{"10MB", 10e6, true}, {"2GiB", 2 << 30, true}, {"5B", 5, true}, {"-2", 0, false}, {"1.5MiB", 0, false},
		{"lots", 0, false}, {"99999999999TiB", 0, false},
	}
	for _, tc := range sizes {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q): got %d, %v", tc.in, got, err)
		}
	}
	lifetimes := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"3600", 3600, true}, {"1h", 3600, true}, {"90s", 90, true}, {"2h30m", 9000, true},
		{"0", 0, false}, {"-5", 0, false}, {"500ms", 0, false}, {"soon", 0, false},
	}
	for _, tc := range lifetimes {
		got, err := parseLifetime(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseLifetime(%q): got %d, %v", tc.in, got, err)
		}
	}
	if got, err := parseInstant("2026-01-02T15:04:05Z"); err != nil || got != 1767366245 {
		t.Errorf("parseInstant: got %d, %v", got, err)
	}
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(1000, 0)
	p := &progressBar{w: &out, label: "download", total: 4 << 20, now: func() time.Time { return clock }, start: clock}
	clock = clock.Add(time.Second)
	p.add(1 << 20)
	if got, want := out.String(), "\rdownload  1.0 MiB / 4.0 MiB   25% [#####...............]  1.0 MiB/s"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	out.Reset()
	p.add(1) // within 100ms of the last draw: nothing
	if out.Len() != 0 {
		t.Fatalf("redrawn too soon: %q", out.String())
	}
	unknown := &progressBar{w: &out, label: "upload", total: -1, now: func() time.Time { return clock }, start: clock.Add(-2 * time.Second)}
	unknown.add(3 << 10)
	unknown.finish(true)
	if got, want := out.String(), "\rupload  3.0 KiB  1.5 KiB/s\rupload  3.0 KiB  1.5 KiB/s\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
