package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
)

// What the browser test needs besides Redis and MinIO; scripts/browser-deps.sh installs both.
const (
	chromiumPath = "/usr/bin/chromium"
	browserDir   = "browser" // e2e/browser: package.json, package-lock.json, run.mjs, page.html
	// browserStamp is written by scripts/browser-deps.sh after `npm ci`: the SHA-256 of the
	// package-lock.json it installed.
	browserStamp   = "browser/node_modules/.assetgateway-lock-sha256"
	browserDepsFix = "run scripts/browser-deps.sh (it installs Debian's chromium and runs npm ci in " +
		"e2e/browser; it never downloads a browser)"
	// browserTimeout bounds the whole Node + Chromium run; run.mjs bounds each step to 10 s.
	browserTimeout = 45 * time.Second
)

// The browser scenarios' objects.
const (
	mediaKey     = "browser/media/seek-box.mp4"
	downloadKey  = "browser/reports/2026.pdf"
	downloadName = "年度报告 2026.pdf"
	uploadName   = "field notes.md"
	uploadType   = "text/markdown; charset=utf-8"
)

// e2e/testdata/seek-box.mp4: 3484 bytes, 6 s, H.264 Constrained Baseline, 160x96, 10 fps, a key
// frame every second, moov before mdat ("faststart"). A 32x32 yellow square on dark blue
// moves right 20 px/s, so the frame at 5.5 s has it at x 110–141 and the first at x 0–31.
// Debian's Chromium plays H.264 (it also reports VP9 and AV1). Made once with Debian's ffmpeg 5.1:
//
//	ffmpeg -f lavfi -i "color=c=0x203060:s=160x96:r=10:d=6[bg];color=c=yellow:s=32x32:r=10:d=6[box];[bg][box]overlay=x='t*20':y=32" \
//	  -c:v libx264 -profile:v baseline -pix_fmt yuv420p -g 10 -crf 30 -movflags +faststart \
//	  -map_metadata -1 -fflags +bitexact -flags:v +bitexact -an e2e/testdata/seek-box.mp4
const mediaFile = "testdata/seek-box.mp4"

// TestBrowser drives Debian's headless Chromium (playwright-core from Node: e2e/browser/run.mjs)
// against the real gateway, Redis and MinIO. The page comes from another origin — an httptest
// server that is also the page's own backend, holding the control token — so every request to
// /object is cross-origin and depends on the gateway's CORS answers:
//   - the page uploads a file with fetch(PUT) (a preflight must pass), reads ETag and
//     X-Request-Id, reads the upload's status through its backend, then reads a 409's JSON;
//   - a <video> plays an MP4 through a GET token with Range requests, seeks near the end and
//     draws the frame it shows to a canvas (only possible with CORS), and a page script reads
//     a byte range;
//   - a link to a token with a Unicode filename downloads under exactly that name;
//   - tus-js-client in the page uploads a file through a tus_url; the page is reloaded
//     mid-upload and the upload resumes from the offset the gateway stored, not from zero
//     (browser_tus_test.go);
//   - a screenshot of the page is written to $AG_ARTIFACTS_DIR (default
//     $TMPDIR/assetgateway-artifacts) and its path logged.
func TestBrowser(t *testing.T) {
	testenv.Integration(t)
	node := browserDeps(t)
	tusDeps(t) // the page loads tus-js-client's browser bundle from e2e/tus/node_modules
	begin := time.Now()

	env := newEnv(t, false)
	app := newPageApp(t) // listening, so its origin is known; serving once the gateway runs
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		server := section(cfg, "server")
		server["host"] = "http://LISTEN" // minted URLs must be the address the browser can reach
		server["cors"] = map[string]any{"allowed_origins": []string{app.origin}, "max_age": "10m"}
	}))
	app.serve(gw.URL)
	c := client{t, gw.URL}

	media, err := os.ReadFile(mediaFile)
	if err != nil {
		t.Fatal(err)
	}
	report := append([]byte("%PDF-1.4\n% AssetGateway browser test\n"), randomBytes(20<<10)...)
	putObjectTyped(t, env, mediaKey, "video/mp4", media)
	putObjectTyped(t, env, downloadKey, "application/pdf", report)
	upload := randomBytes(48 << 10)
	uploadPath := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(uploadPath, upload, 0o600); err != nil {
		t.Fatal(err)
	}
	shot := screenshotPath(t)
	tusData := randomBytes(11<<20 + 123)
	tusPath := filepath.Join(t.TempDir(), "tus.bin")
	if err := os.WriteFile(tusPath, tusData, 0o600); err != nil {
		t.Fatal(err)
	}
	ready := time.Now()

	res, raw := runBrowser(t, node, []string{
		"AG_PAGE_URL=" + app.origin + "/",
		"AG_CHROMIUM=" + chromiumPath,
		"AG_USER_DATA_DIR=" + t.TempDir(),
		"AG_UPLOAD_FILE=" + uploadPath,
		"AG_UPLOAD_NAME=" + uploadName,
		"AG_UPLOAD_TYPE=" + uploadType,
		"AG_SCREENSHOT=" + shot,
		"AG_TUS_FILE=" + tusPath,
	})
	ran := time.Now()
	t.Logf("Chromium %s; browser run %v (setup %v)", res.BrowserVersion, ran.Sub(ready).Round(time.Millisecond),
		ready.Sub(begin).Round(time.Millisecond))
	for _, e := range app.errors() {
		t.Errorf("page backend: %s", e)
	}
	for _, e := range res.PageErrors {
		t.Errorf("uncaught exception in the page: %s", e)
	}
	for _, e := range res.Console {
		t.Logf("page console error: %s", e)
	}
	if strings.Contains(raw, controlToken) {
		t.Errorf("the page saw the control token")
	}
	tokens := app.minted()
	access := parseAccessLog(t, gw)

	t.Run("upload", func(t *testing.T) {
		u := res.Upload
		first, second := u.First, u.Second
		if first.Error != "" || first.Status != 200 {
			t.Fatalf("first PUT from the page: got %d %s (error %q), want 200", first.Status, first.Body, first.Error)
		}
		var up struct {
			ETag string `json:"etag"`
			Size int64  `json:"size"`
		}
		if err := json.Unmarshal(first.Body, &up); err != nil || up.Size != int64(len(upload)) || up.ETag == "" {
			t.Errorf("PUT body read by the page: got %s, want etag and size %d", first.Body, len(upload))
		}
		if want := `"` + up.ETag + `"`; first.ETag != want {
			t.Errorf("ETag header read by the page: got %q, want %q", first.ETag, want)
		}
		if line, ok := access.find(first.RequestID); !ok || line.Method != "PUT" || line.Status != 200 {
			t.Errorf("X-Request-Id read by the page: got %q, matching access-log line %+v (found %v), want the PUT's",
				first.RequestID, line, ok)
		}
		preflights := access.count(tokens["put"], "OPTIONS", 204)
		if preflights < 1 {
			t.Errorf("preflights answered 204 for the PUT token: got %d, want at least 1\naccess log:\n%s",
				preflights, access.forToken(tokens["put"]))
		}
		st := u.Status
		if !st.Uploaded || !st.ObjectExists || st.ObjectSize != int64(len(upload)) || st.ETag != up.ETag || st.UsedHits != 1 {
			t.Errorf("status through the page's backend: got %+v, want uploaded, object_exists, size %d, etag %s, 1 hit",
				st, len(upload), up.ETag)
		}
		if second.Error != "" {
			t.Fatalf("second PUT: the page could not read the response: %s", second.Error)
		}
		var e struct {
			Code      string `json:"code"`
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(second.Body, &e)
		if second.Status != 409 || e.Code != "hits_exceeded" || e.RequestID == "" || e.RequestID != second.RequestID {
			t.Errorf("second PUT read by the page: got %d %s with X-Request-Id %q, want 409 hits_exceeded and the same request id",
				second.Status, second.Body, second.RequestID)
		}
		got, typ := getObjectTyped(t, env, app.putKey())
		if !bytes.Equal(got, upload) || typ != uploadType {
			t.Errorf("object in MinIO: got %d bytes of %q, want %d bytes of %q", len(got), typ, len(upload), uploadType)
		}
		t.Logf("PUT: %d, ETag %s, X-Request-Id %s; %d preflight(s) 204; second PUT: %d %s",
			first.Status, first.ETag, first.RequestID, preflights, second.Status, second.Body)
	})

	t.Run("video", func(t *testing.T) {
		v := res.Video
		t.Logf("canPlayType: %v", v.CanPlay)
		if v.Error != "" {
			t.Fatalf("video: %s (readyState %d, canPlayType %v)\naccess log:\n%s", v.Error, v.ReadyState, v.CanPlay,
				access.forToken(tokens["media"]))
		}
		if v.ReadyState < 2 || v.SeekTo < 5 || math.Abs(v.CurrentTime-v.SeekTo) > 0.15 ||
			v.PresentedMediaTime < v.SeekTo-0.05 || v.PresentedMediaTime > v.Duration ||
			math.Abs(v.Duration-6) > 0.1 || !v.Ended {
			t.Errorf("after the seek: got readyState %d, currentTime %.3f, next frame presented at %.3f, ended %v (seek to %.3f, duration %.3f), want readyState >= 2, a frame from the seek target on, played to the end of a 6 s video",
				v.ReadyState, v.CurrentTime, v.PresentedMediaTime, v.Ended, v.SeekTo, v.Duration)
		}
		if !yellow(v.Pixels.End) || yellow(v.Pixels.Start) {
			t.Errorf("frame drawn after the seek: got %v at x=16 and %v at x=126, want the square at the right (a frame from 5.5 s on)",
				v.Pixels.Start, v.Pixels.End)
		}
		// What Chromium's media stack asked for and got (seen by Playwright), and what the
		// gateway logged for the token.
		var ranges []string
		served := 0
		contentRange := regexp.MustCompile(`^bytes (\d+)-(\d+)/` + strconv.Itoa(len(media)) + `$`)
		for _, r := range res.Requests {
			if r.Token != tokens["media"] || r.ResourceType != "media" {
				continue
			}
			switch {
			case r.Failure != "":
				ranges = append(ranges, fmt.Sprintf("%s → %s", r.Range, r.Failure))
				continue
			case !strings.HasPrefix(r.Range, "bytes=") || r.Status != 206 || !contentRange.MatchString(r.ContentRange):
				t.Errorf("media request: got Range %q → %d %q, want a Range answered 206 with a Content-Range of %d bytes",
					r.Range, r.Status, r.ContentRange, len(media))
			default:
				served++
			}
			ranges = append(ranges, fmt.Sprintf("%s → %d %s", r.Range, r.Status, r.ContentRange))
		}
		t.Logf("media element requests (Range → status, Content-Range): %s", strings.Join(ranges, "; "))
		if served < 1 {
			t.Errorf("media element: got no Range request answered 206")
		}
		if n := access.count(tokens["media"], "GET", 206); n < 1 {
			t.Errorf("gateway 206s for the media token: got %d, want at least 1\naccess log:\n%s", n, access.forToken(tokens["media"]))
		}
		for _, l := range access.lines(tokens["media"]) {
			if l.Status >= 400 {
				t.Errorf("gateway answered the media token with %d: %+v", l.Status, l)
			}
		}
		rf := v.Range
		if rf.Error != "" || rf.Status != 206 || rf.ContentRange != fmt.Sprintf("bytes 100-199/%d", len(media)) ||
			rf.ContentLength != "100" || rf.AcceptRanges != "bytes" || !bytes.Equal(rf.Bytes, media[100:200]) {
			t.Errorf("fetch with Range: bytes=100-199 read by the page: got %d, Content-Range %q, Content-Length %q, Accept-Ranges %q, %d bytes (error %q), want 206 with bytes 100-199",
				rf.Status, rf.ContentRange, rf.ContentLength, rf.AcceptRanges, len(rf.Bytes), rf.Error)
		}
		// Chromium treats a single "bytes=a-b" as a CORS-safelisted header: no preflight expected,
		// but one would be fine too.
		t.Logf("fetch with Range: %d %s, preflights for the media token: %d", rf.Status, rf.ContentRange,
			access.count(tokens["media"], "OPTIONS", 204))
	})

	t.Run("download", func(t *testing.T) {
		d := res.Download
		sum := sha256.Sum256(report)
		if d.Failure != "" || d.SuggestedFilename != downloadName || d.Size != len(report) || d.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("download: got %q, %d bytes, sha256 %.12s… (failure %q), want %q, %d bytes, sha256 %.12s…",
				d.SuggestedFilename, d.Size, d.SHA256, d.Failure, downloadName, len(report), hex.EncodeToString(sum[:]))
		}
		if n := access.count(tokens["download"], "GET", 200); n != 1 {
			t.Errorf("gateway 200s for the download token: got %d, want 1\naccess log:\n%s", n, access.forToken(tokens["download"]))
		}
	})

	t.Run("tus across a reload", func(t *testing.T) { checkBrowserTus(t, env, c, res, app, access, tusData) })

	t.Run("metrics", func(t *testing.T) {
		_, body := c.do("GET", "/metrics", nil)
		for series, least := range map[string]float64{
			`assetgateway_http_requests_total{code="204",method="OPTIONS",route="OPTIONS /object/{token}"}`: 1,
			`assetgateway_http_requests_total{code="200",method="PUT",route="PUT /object/{token}"}`:         1,
			`assetgateway_http_requests_total{code="409",method="PUT",route="PUT /object/{token}"}`:         1,
			`assetgateway_http_requests_total{code="206",method="GET",route="GET /object/{token}"}`:         2,
		} {
			if got := seriesValue(string(body), series); got < least {
				t.Errorf("%s: got %v, want at least %v", series, got, least)
			}
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		defer f.Close()
		cfg, err := png.DecodeConfig(f)
		if err != nil || cfg.Width < 100 || cfg.Height < 100 {
			t.Fatalf("screenshot %s: got %dx%d (%v), want a PNG page", shot, cfg.Width, cfg.Height, err)
		}
		t.Logf("screenshot (%dx%d): %s", cfg.Width, cfg.Height, shot)
	})

	secrets := []string{controlToken, env.S3.AccessKey, env.S3.SecretKey}
	for _, tok := range tokens {
		secrets = append(secrets, tok)
	}
	assertNoSecrets(t, gw, secrets...)
	t.Logf("TestBrowser: %v in all", time.Since(begin).Round(time.Millisecond))
}

// browserDeps fails the test (never skips it) when Chromium or the Node packages are missing
// or stale, naming the script that installs them. It returns the node executable.
func browserDeps(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("browser test: %s not found: %s", chromiumPath, browserDepsFix)
	}
	return nodeDeps(t, "browser test", browserDir, browserStamp, browserDepsFix)
}

// nodeDeps fails the test when node is not on PATH or dir's node_modules is missing or was
// installed from another package-lock.json (stamp holds the lock's SHA-256), naming fix. It
// returns the node executable.
func nodeDeps(t *testing.T, test, dir, stamp, fix string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("%s: node not found on PATH: install Node.js 20 or later, then %s", test, fix)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	got, err := os.ReadFile(stamp)
	switch {
	case errors.Is(err, os.ErrNotExist):
		t.Fatalf("%s: e2e/%s/node_modules is not installed: %s", test, dir, fix)
	case err != nil:
		t.Fatal(err)
	case strings.TrimSpace(string(got)) != hex.EncodeToString(sum[:]):
		t.Fatalf("%s: e2e/%s/node_modules was installed from another package-lock.json: %s", test, dir, fix)
	}
	return node
}

// screenshotPath is where the screenshot goes: $AG_ARTIFACTS_DIR, else
// $TMPDIR/assetgateway-artifacts. An earlier run's file is removed first.
func screenshotPath(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AG_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "assetgateway-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, "TestBrowser.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return path
}

// browserResult is what run.mjs prints.
type browserResult struct {
	BrowserVersion string   `json:"browserVersion"`
	Fatal          string   `json:"fatal"`
	Console        []string `json:"console"`
	PageErrors     []string `json:"pageErrors"`
	Requests       []struct {
		ResourceType string `json:"resourceType"`
		Method       string `json:"method"`
		Token        string `json:"token"`
		Range        string `json:"range"`
		Status       int    `json:"status"`
		ContentRange string `json:"contentRange"`
		Failure      string `json:"failure"`
	} `json:"requests"`
	Upload struct {
		First  putAnswer `json:"first"`
		Second putAnswer `json:"second"`
		Status struct {
			Uploaded     bool   `json:"uploaded"`
			ObjectExists bool   `json:"object_exists"`
			ObjectSize   int64  `json:"object_size"`
			ETag         string `json:"etag"`
			UsedHits     int64  `json:"used_hits"`
		} `json:"status"`
	} `json:"upload"`
	Video struct {
		CanPlay     map[string]string `json:"canPlay"`
		Error       string            `json:"error"`
		Duration    float64           `json:"duration"`
		SeekTo      float64           `json:"seekTo"`
		CurrentTime float64           `json:"currentTime"`
		// CurrentTime and ReadyState are read when the seek completed; PresentedMediaTime is the
		// media time of the first frame presented after it.
		PresentedMediaTime float64 `json:"presentedMediaTime"`
		Ended              bool    `json:"ended"`
		ReadyState         int     `json:"readyState"`
		Pixels             struct {
			Start []int `json:"start"`
			End   []int `json:"end"`
		} `json:"pixels"`
		Range struct {
			Error         string `json:"error"`
			Status        int    `json:"status"`
			ContentRange  string `json:"contentRange"`
			ContentLength string `json:"contentLength"`
			AcceptRanges  string `json:"acceptRanges"`
			Bytes         []byte `json:"-"`
			ByteList      []int  `json:"bytes"`
		} `json:"range"`
	} `json:"video"`
	Download struct {
		SuggestedFilename string `json:"suggestedFilename"`
		Failure           string `json:"failure"`
		Size              int    `json:"size"`
		SHA256            string `json:"sha256"`
	} `json:"download"`
	Tus browserTus `json:"tus"`
}

// putAnswer is a gateway answer to fetch(PUT) as the page's script could read it.
type putAnswer struct {
	Error     string          `json:"error"` // fetch rejected (e.g. CORS refused the response)
	Status    int             `json:"status"`
	RequestID string          `json:"requestId"`
	ETag      string          `json:"etag"`
	Body      json.RawMessage `json:"body"`
}

// runBrowser runs run.mjs with vars and decodes what it prints. It fails the test if the run
// does not complete within browserTimeout.
func runBrowser(t *testing.T, node string, vars []string) (browserResult, string) {
	t.Helper()
	var res browserResult
	out := runNode(t, node, "run.mjs", vars, &res, func() string { return res.Fatal })
	rf := &res.Video.Range
	for _, b := range rf.ByteList {
		rf.Bytes = append(rf.Bytes, byte(b))
	}
	return res, out
}

// runNode runs a script of e2e/browser with vars and decodes the JSON object it prints last
// into res; fatal returns the script's own report of a failed run. It fails the test if the
// run fails or does not complete within browserTimeout (or its scriptTimeouts entry). It
// returns the JSON.
func runNode(t *testing.T, node, script string, vars []string, res any, fatal func() string) string {
	t.Helper()
	limit := browserTimeout
	if d, ok := scriptTimeouts[script]; ok {
		limit = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	cmd.Env = append(cmd.Env, vars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// On timeout, SIGTERM first: Playwright then closes the browser it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s: not done after %v\nstderr:\n%s", script, limit, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if jerr := json.Unmarshal([]byte(out), res); jerr != nil || err != nil || fatal() != "" {
		t.Fatalf("%s: %v; %v; %s\nstderr:\n%s\nstdout:\n%s", script, err, jerr, fatal(), stderr.String(), stdout.String())
	}
	return out
}

// yellow reports whether an RGB triple is the square's colour, give or take compression.
func yellow(rgb []int) bool {
	return len(rgb) == 3 && rgb[0] > 200 && rgb[1] > 200 && rgb[2] < 90
}

// pageApp is the test page's origin: it serves page.html and is the page's own backend, which
// holds the control token and mints tokens server-side; the page only ever gets token URLs.
type pageApp struct {
	origin  string // http://127.0.0.1:port
	gateway string // the gateway's base URL; set by serve
	page    []byte
	http    *http.Client
	srv     *httptest.Server

	mu     sync.Mutex
	tokens map[string]string // "put", "media", "download", "tus" → the token minted last
	key    string            // the key of the last PUT token
	tusKey string            // the key of the last tus token
	errs   []string
}

// newPageApp returns the page's origin, listening on 127.0.0.1 but not serving yet: the
// gateway's CORS configuration needs the origin before the gateway, and so the app, can run.
func newPageApp(t *testing.T) *pageApp {
	t.Helper()
	page, err := os.ReadFile(filepath.Join(browserDir, "page.html"))
	if err != nil {
		t.Fatal(err)
	}
	app := &pageApp{page: page, http: &http.Client{Timeout: 10 * time.Second}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(app.page)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /api/mint-put", app.mintPut)
	mux.HandleFunc("POST /api/mint-tus", app.mintTus)
	mux.HandleFunc("GET /tus.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, tusBundle)
	})
	mux.HandleFunc("GET /api/status", app.status)
	mux.HandleFunc("GET /api/media", func(w http.ResponseWriter, r *http.Request) {
		app.mint(w, "media", map[string]any{"bucket": "assets", "key": mediaKey, "method": "GET", "max_hits": -1})
	})
	mux.HandleFunc("GET /api/download", func(w http.ResponseWriter, r *http.Request) {
		app.mint(w, "download", map[string]any{"bucket": "assets", "key": downloadKey, "method": "GET",
			"filename": downloadName, "max_hits": 1})
	})
	app.srv = httptest.NewUnstartedServer(mux)
	t.Cleanup(app.srv.Close)
	app.origin = "http://" + app.srv.Listener.Addr().String()
	return app
}

// serve starts answering, with the gateway at gatewayURL.
func (a *pageApp) serve(gatewayURL string) {
	a.gateway = gatewayURL
	a.srv.Start()
}

// mintPut mints a one-upload token for the file the page announces, capped at its size.
func (a *pageApp) mintPut(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil || in.Name == "" || in.Size < 0 {
		a.fail(w, http.StatusBadRequest, fmt.Sprintf("mint-put: bad request (%v)", err))
		return
	}
	key := "browser/uploads/" + in.Name
	a.mu.Lock()
	a.key = key
	a.mu.Unlock()
	a.mint(w, "put", map[string]any{"bucket": "assets", "key": key, "method": "PUT", "size": in.Size})
}

// mint asks the gateway for a token and answers the page with its URL.
func (a *pageApp) mint(w http.ResponseWriter, purpose string, fields map[string]any) {
	var out struct {
		Token    string `json:"token"`
		URL      string `json:"url"`
		TusURL   string `json:"tus_url,omitempty"`
		Filename string `json:"filename"`
	}
	if err := a.control("POST", "/token", fields, http.StatusCreated, &out); err != nil {
		a.fail(w, http.StatusBadGateway, fmt.Sprintf("mint %s: %v", purpose, err))
		return
	}
	a.mu.Lock()
	a.tokens[purpose] = out.Token
	a.mu.Unlock()
	a.writeJSON(w, http.StatusOK, out)
}

// status relays the part of GET /token/{token}/status that the page needs.
func (a *pageApp) status(w http.ResponseWriter, r *http.Request) {
	var st struct {
		Uploaded     bool   `json:"uploaded"`
		ObjectExists bool   `json:"object_exists"`
		ObjectSize   int64  `json:"object_size"`
		ETag         string `json:"etag"`
		UsedHits     int64  `json:"used_hits"`
		MaxHits      int64  `json:"max_hits"`
	}
	path := "/token/" + url.PathEscape(r.URL.Query().Get("token")) + "/status"
	if err := a.control("GET", path, nil, http.StatusOK, &st); err != nil {
		a.fail(w, http.StatusBadGateway, fmt.Sprintf("status: %v", err))
		return
	}
	a.writeJSON(w, http.StatusOK, st)
}

// control calls the gateway's control API with the control token.
func (a *pageApp) control(method, path string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.gateway+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+controlToken)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: got %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	return json.Unmarshal(b, out)
}

func (a *pageApp) fail(w http.ResponseWriter, status int, msg string) {
	a.mu.Lock()
	a.errs = append(a.errs, msg)
	a.mu.Unlock()
	a.writeJSON(w, status, map[string]string{"error": msg})
}

func (a *pageApp) errors() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.errs...)
}

func (a *pageApp) minted() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]string, len(a.tokens))
	for k, v := range a.tokens {
		m[k] = v
	}
	return m
}

func (a *pageApp) putKey() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.key
}

func (a *pageApp) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func putObjectTyped(t *testing.T, env *Env, key, contentType string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := env.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(env.Bucket), Key: aws.String(key), ContentType: aws.String(contentType),
		Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

func getObjectTyped(t *testing.T, env *Env, key string) ([]byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := env.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(env.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %q: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %q: %v", key, err)
	}
	return b, aws.ToString(out.ContentType)
}

// accessEntry is one access-log line of the gateway (JSON, message "request").
type accessEntry struct {
	Msg       string `json:"msg"`
	RequestID string `json:"request_id"`
	Method    string `json:"method"`
	Route     string `json:"route"`
	Status    int    `json:"status"`
	BytesOut  int64  `json:"bytes_out"`
	TokenID   string `json:"token_id"`
	Code      string `json:"code"`
}

type accessEntries []accessEntry

func parseAccessLog(t *testing.T, g *Gateway) accessEntries {
	t.Helper()
	var out accessEntries
	for _, line := range strings.Split(g.Log(), "\n") {
		var l accessEntry
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no access-log lines in the gateway's output:\n%s", g.Log())
	}
	return out
}

// lines returns the lines for one token (the log carries token.LogID, never the token).
func (ls accessEntries) lines(tok string) accessEntries {
	var out accessEntries
	for _, l := range ls {
		if tok != "" && l.TokenID == token.LogID(tok) {
			out = append(out, l)
		}
	}
	return out
}

func (ls accessEntries) count(tok, method string, status int) int {
	n := 0
	for _, l := range ls.lines(tok) {
		if l.Method == method && l.Status == status {
			n++
		}
	}
	return n
}

func (ls accessEntries) find(requestID string) (accessEntry, bool) {
	for _, l := range ls {
		if requestID != "" && l.RequestID == requestID {
			return l, true
		}
	}
	return accessEntry{}, false
}

func (ls accessEntries) forToken(tok string) string {
	var b strings.Builder
	for _, l := range ls.lines(tok) {
		fmt.Fprintf(&b, "  %s %s → %d %s (%d bytes, request %s)\n", l.Method, l.Route, l.Status, l.Code, l.BytesOut, l.RequestID)
	}
	return b.String()
}

// seriesValue returns the value of one Prometheus series in a text exposition (0 if absent).
func seriesValue(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}
