package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// scriptTimeouts bound the scripts that need longer than browserTimeout: uppy.mjs sends
// about 130 MiB through Chromium, part by part.
var scriptTimeouts = map[string]time.Duration{"uppy.mjs": 120 * time.Second}

// uppyResult is what uppy.mjs prints.
type uppyResult struct {
	BrowserVersion string `json:"browserVersion"`
	Fatal          string `json:"fatal"`
	Cases          []struct {
		Name   string    `json:"name"`
		MS     int       `json:"ms"`
		Result uppyFinal `json:"result"`
	} `json:"cases"`
	Requests []uppyRequest `json:"requests"`
}

type uppyFinal struct {
	SHA256     string `json:"sha256"`
	Parts      []int  `json:"parts"`
	Successful []struct {
		UploadURL string `json:"uploadURL"`
		Key       string `json:"key"`
	} `json:"successful"`
	Failed []string `json:"failed"`
}

type uppyRequest struct {
	Case    string `json:"case"`
	Method  string `json:"method"`
	Host    string `json:"host"`
	Path    string `json:"path"`
	Status  int    `json:"status"`
	Failure string `json:"failure"`
}

// uppyCase is one upload of the page (see uppy.mjs).
type uppyCase struct {
	Name             string `json:"name"`
	Endpoint         string `json:"endpoint"`
	Size             int    `json:"size"`
	Seed             uint32 `json:"seed"`
	Type             string `json:"type"`
	ChunkSize        int    `json:"chunkSize,omitempty"`
	ReloadAfterParts int    `json:"reloadAfterParts,omitempty"`
	tok, key         string
}

// TestBrowserUppy: headless Chromium runs Uppy (@uppy/core and @uppy/aws-s3 6.3.1, from
// e2e/browser/node_modules, unmodified) on a page of another origin, with each token's
// uppy_endpoint as its companionEndpoint, against the real gateway, Redis and MinIO:
//   - a 64 MiB file, exactly the token's cap, goes up in 13 parts straight to MinIO and lands
//     at the token's key with the page's SHA-256; the gateway received none of its bytes
//     (assetgateway_object_bytes_total{direction="in"} stays 0);
//   - a reload mid-upload, then Uppy's resume (its saved state, then the parts listing):
//     only the parts MinIO lacks are signed and sent again;
//   - files over the cap end in 413 — at the first part past the token's bound, or at
//     completion for large parts — with nothing stored, no multipart upload left open, and
//     the token's hit handed back.
//
// MinIO (the pinned build) answers PutBucketCors with NotImplemented: its CORS is server-wide
// (MINIO_API_CORS_ALLOW_ORIGIN, default "*"), exposing ETag, which the part uploads need.
func TestBrowserUppy(t *testing.T) {
	testenv.Integration(t)
	node := browserDeps(t)
	env := newEnv(t, false)
	page := newUppyPage(t)
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		server := section(cfg, "server")
		server["host"] = "http://LISTEN"
		server["cors"] = map[string]any{"allowed_origins": []string{page.URL}}
		section(cfg, "buckets")["assets"].(map[string]any)["direct_uploads"] = true
	}))
	c := client{t, gw.URL}
	const MiB = 1 << 20
	cases := []*uppyCase{
		{Name: "whole", Size: 64 * MiB, Seed: 1},
		{Name: "resume", Size: 30 * MiB, Seed: 2, ReloadAfterParts: 3},
		{Name: "over-bound", Size: 11 * MiB, Seed: 3},                     // 5+5+1 MiB: part 3 is past a 6 MiB cap's bound
		{Name: "over-total", Size: 11 * MiB, Seed: 4, ChunkSize: 8 * MiB}, // 8+3 MiB: two parts, 11 MiB in all
	}
	caps := map[string]int{"whole": 64 * MiB, "resume": 64 * MiB, "over-bound": 6 * MiB, "over-total": 6 * MiB}
	for _, uc := range cases {
		uc.key = "uppy/" + uc.Name + ".bin"
		uc.Type = "application/octet-stream"
		uc.tok = c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"PUT","size":%d}`, uc.key, caps[uc.Name]))
		uc.Endpoint = c.record(uc.tok, "")["uppy_endpoint"].(string)
	}
	list, _ := json.Marshal(cases)
	var res uppyResult
	start := time.Now()
	runNode(t, node, "uppy.mjs", []string{
		"AG_CHROMIUM=" + chromiumPath,
		"AG_USER_DATA_DIR=" + t.TempDir(),
		"AG_PAGE_URL=" + page.URL + "/",
		"AG_CASES=" + string(list),
	}, &res, func() string { return res.Fatal })
	t.Logf("Chromium %s, %d cases in %s", res.BrowserVersion, len(res.Cases), time.Since(start).Round(time.Millisecond))
	if len(res.Cases) != len(cases) {
		t.Fatalf("got %d cases, want %d", len(res.Cases), len(cases))
	}
	minio := endpointHost(t, env.S3.Endpoint)
	for i, uc := range cases {
		t.Run(uc.Name, func(t *testing.T) {
			got := res.Cases[i].Result
			reqs := requestsOf(res.Requests, uc.Name)
			t.Logf("%s: %d ms, parts %v, failed %v; requests: %s", uc.Name, res.Cases[i].MS, got.Parts, got.Failed, summarize(reqs, minio))
			switch uc.Name {
			case "whole":
				uppyLanded(t, env, c, uc, got, gw.URL)
				if n := countRequests(reqs, minio, "PUT", 200); n != 13 {
					t.Errorf("parts PUT to MinIO: %d, want 13", n)
				}
			case "resume":
				uppyLanded(t, env, c, uc, got, gw.URL)
				uppyResumed(t, res.Requests, uc)
			default:
				uppyRefused(t, env, c, uc, got, reqs)
			}
		})
	}
	if in := metricValue(t, gw.URL, `assetgateway_object_bytes_total{direction="in"}`); in != 0 {
		t.Errorf(`object_bytes_total{direction="in"}: %v, want 0: the files went to MinIO directly`, in)
	}
	var secrets []string
	for _, uc := range cases {
		secrets = append(secrets, uc.tok)
	}
	assertNoSecrets(t, gw, append(secrets, "X-Amz-Signature")...)
}

// uppyLanded checks that the case's file is stored whole at its token's key and that Uppy
// said so.
func uppyLanded(t *testing.T, env *Env, c client, uc *uppyCase, got uppyFinal, gwURL string) {
	t.Helper()
	want := sha256.Sum256(xorshiftBytes(uc.Seed, uc.Size))
	if got.SHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("the page's file: sha256 %s, want %x", got.SHA256, want)
	}
	if len(got.Failed) != 0 || len(got.Successful) != 1 || got.Successful[0].Key != uc.key ||
		got.Successful[0].UploadURL != gwURL+"/object/"+uc.tok {
		t.Errorf("Uppy reported %+v", got)
	}
	stored, typ := getObjectTyped(t, env, uc.key)
	if sum := sha256.Sum256(stored); sum != want || typ != uc.Type {
		t.Errorf("object at %s: %d bytes of %q, sha256 %x; want %d bytes, %x", uc.key, len(stored), typ, sum, uc.Size, want)
	}
	st := c.record(uc.tok, "/status")
	if st["uploaded"] != true || st["used_hits"] != 1.0 {
		t.Errorf("status: %v", st)
	}
}

// uppyResumed checks that after the reload Uppy listed the parts and signed only the others.
func uppyResumed(t *testing.T, all []uppyRequest, uc *uppyCase) {
	t.Helper()
	before, after := signedParts(requestsOf(all, uc.Name)), signedParts(requestsOf(all, uc.Name+":resumed"))
	lists, creates := 0, 0
	for _, r := range requestsOf(all, uc.Name+":resumed") {
		switch {
		case r.Method == "GET" && multipartPath.MatchString(r.Path) && r.Status == 200:
			lists++
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/s3/multipart"):
			creates++
		}
	}
	parts := (uc.Size + 5<<20 - 1) / (5 << 20)
	if lists != 1 || creates != 0 || len(after) == 0 || after[0] < uc.ReloadAfterParts+1 || after[len(after)-1] != parts {
		t.Errorf("after the reload: %d listings, %d creates, parts signed %v (before: %v); want one listing, no create, "+
			"parts from %d or later to %d", lists, creates, after, before, uc.ReloadAfterParts+1, parts)
	}
	t.Logf("parts signed before the reload %v, after it %v", before, after)
}

// uppyRefused checks an upload past the cap: a 413 told Uppy, nothing stored, nothing left
// open, the hit handed back.
func uppyRefused(t *testing.T, env *Env, c client, uc *uppyCase, got uppyFinal, reqs []uppyRequest) {
	t.Helper()
	refusals := 0
	for _, r := range reqs {
		if r.Status == http.StatusRequestEntityTooLarge {
			refusals++
			if uc.Name == "over-bound" && !strings.HasSuffix(r.Path, "/3") || uc.Name == "over-total" && !strings.HasSuffix(r.Path, "/complete") {
				t.Errorf("413 on %s %s", r.Method, r.Path)
			}
		}
	}
	if refusals != 1 || len(got.Successful) != 0 || len(got.Failed) != 1 {
		t.Errorf("413 answers %d, Uppy reported %+v; want one 413 and a failed upload", refusals, got)
	}
	if err := env.objectAbsent(uc.key); err != nil {
		t.Error(err)
	}
	if n := c.usedHits(uc.tok); n != 0 {
		t.Errorf("used_hits %d after the refusal, want 0 (handed back)", n)
	}
}

var multipartPath = regexp.MustCompile(`^/uppy/[^/]+/s3/multipart/[A-Za-z0-9_-]{22}$`)
var signPath = regexp.MustCompile(`^/uppy/[^/]+/s3/multipart/[A-Za-z0-9_-]{22}/(\d+)$`)

// signedParts are the part numbers signed (200) among reqs, in order.
func signedParts(reqs []uppyRequest) []int {
	var out []int
	for _, r := range reqs {
		if m := signPath.FindStringSubmatch(r.Path); m != nil && r.Method == "GET" && r.Status == 200 {
			n, _ := strconv.Atoi(m[1])
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func requestsOf(all []uppyRequest, name string) []uppyRequest {
	var out []uppyRequest
	for _, r := range all {
		if r.Case == name {
			out = append(out, r)
		}
	}
	return out
}

func countRequests(reqs []uppyRequest, host, method string, status int) int {
	n := 0
	for _, r := range reqs {
		if r.Host == host && r.Method == method && r.Status == status {
			n++
		}
	}
	return n
}

// summarize counts requests by destination, method and status.
func summarize(reqs []uppyRequest, minio string) string {
	counts := map[string]int{}
	for _, r := range reqs {
		dest := "gateway"
		if r.Host == minio {
			dest = "MinIO"
		}
		k := fmt.Sprintf("%s %s %d%s", dest, r.Method, r.Status, r.Failure)
		counts[k]++
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// xorshiftBytes makes the page's file (uppy.html's fileBytes).
func xorshiftBytes(seed uint32, size int) []byte {
	out := make([]byte, size)
	x := seed
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}

// metricValue reads one series of the gateway's /metrics; absent is 0.
func metricValue(t *testing.T, gwURL, series string) float64 {
	t.Helper()
	resp, err := http.Get(gwURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// newUppyPage serves uppy.html and e2e/browser/node_modules: ES modules as they are, and
// under /cjs/ the CommonJS files wrapped in an ES module each (cjsModule).
func newUppyPage(t *testing.T) *httptest.Server {
	t.Helper()
	html, err := os.ReadFile(filepath.Join(browserDir, "uppy.html"))
	if err != nil {
		t.Fatal(err)
	}
	modules := os.DirFS(filepath.Join(browserDir, "node_modules"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(html)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("GET /node_modules/", http.StripPrefix("/node_modules/", http.FileServerFS(modules)))
	mux.HandleFunc("GET /cjs/{file...}", func(w http.ResponseWriter, r *http.Request) {
		src, err := cjsModule(modules, r.PathValue("file"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(src)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

var requireCall = regexp.MustCompile(`require\(\s*['"]([^'"]+)['"]\s*\)`)

// cjsModule wraps the CommonJS file name of fsys in an ES module that default-exports its
// module.exports: each require('x') found outside comment lines becomes an import of x's
// wrapped module (relative paths within the package, bare names through their package's
// "main"), called lazily, as require is. The file itself is left as it is.
func cjsModule(fsys fs.FS, name string) ([]byte, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	deps := map[string]string{}
	for _, line := range strings.Split(string(src), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "//") || strings.HasPrefix(l, "*") || strings.HasPrefix(l, "/*") {
			continue
		}
		for _, m := range requireCall.FindAllStringSubmatch(line, -1) {
			if _, ok := deps[m[1]]; !ok {
				deps[m[1]] = fmt.Sprintf("d%d", len(deps))
				fmt.Fprintf(&b, "import %s from %q;\n", deps[m[1]], "/cjs/"+cjsResolve(fsys, name, m[1]))
			}
		}
	}
	b.WriteString("const __deps = {")
	for spec, v := range deps {
		fmt.Fprintf(&b, "%q: () => %s, ", spec, v)
	}
	b.WriteString("};\nconst module = { exports: {} };\n")
	b.WriteString("(function (module, exports, require) {\n")
	b.Write(src)
	b.WriteString("\n}).call(module.exports, module, module.exports, (spec) => __deps[spec]());\nexport default module.exports;\n")
	return b.Bytes(), nil
}

// cjsResolve finds the file a require names: a path relative to the requiring file (".js"
// added when it has no extension), or a package's main file.
func cjsResolve(fsys fs.FS, from, spec string) string {
	if strings.HasPrefix(spec, ".") {
		p := path.Join(path.Dir(from), spec)
		if path.Ext(p) == "" {
			p += ".js"
		}
		return p
	}
	var pkg struct{ Main string }
	if b, err := fs.ReadFile(fsys, spec+"/package.json"); err == nil {
		json.Unmarshal(b, &pkg)
	}
	if pkg.Main == "" {
		pkg.Main = "index.js"
	}
	return path.Join(spec, pkg.Main)
}

// TestUppyJanitor: the real binary on Redis ends an abandoned direct upload when its token's
// record ends (expire_at + token.retention): the multipart upload is aborted in MinIO.
func TestUppyJanitor(t *testing.T) {
	testenv.Integration(t)
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		section(cfg, "buckets")["assets"].(map[string]any)["direct_uploads"] = true
		cfg["token"] = map[string]any{"retention": "1s"}
		cfg["uploads"] = map[string]any{"janitor_interval": "1s"}
	}))
	c := client{t, gw.URL}
	const key = "uppy/abandoned.bin"
	tok := c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"PUT","expires_in":2}`, key))
	resp, body := c.do("POST", "/uppy/"+tok+"/s3/multipart", strings.NewReader(`{"type":"text/plain"}`))
	var started struct{ UploadID, Key string }
	if json.Unmarshal(body, &started); resp.StatusCode != 200 || started.Key != key {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if err := env.objectAbsent(key); err == nil || !strings.Contains(err.Error(), "left open") {
		t.Fatalf("before expiry: %v; want the multipart upload open", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for env.objectAbsent(key) != nil || !strings.Contains(gw.Log(), `"upload_ended"`) {
		if time.Now().After(deadline) {
			t.Fatalf("20 s later: %v, or no upload_ended logged\n%s", env.objectAbsent(key), gw.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
