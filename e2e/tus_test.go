package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/assetgateway/assetgateway/internal/upload"
)

// What the tus client tests need besides Redis and MinIO; scripts/tus-deps.sh installs it.
const (
	tusDir   = "tus" // e2e/tus: package.json, package-lock.json, upload.mjs
	tusStamp = "tus/node_modules/.assetgateway-lock-sha256"
	tusFix   = "run scripts/tus-deps.sh (npm ci of the pinned tus-js-client in e2e/tus)"
)

// tusDeps fails the test (never skips it) when Node or tus-js-client is missing or stale.
func tusDeps(t *testing.T) string {
	t.Helper()
	return nodeDeps(t, "tus test", tusDir, tusStamp, tusFix)
}

// tusRun is what upload.mjs printed: how the upload ended and the requests it sent.
type tusRun struct {
	Event    string `json:"event"`
	URL      string `json:"url"`
	Sent     int64  `json:"sent"`
	Error    string `json:"error"`
	Requests []struct {
		Method string `json:"method"`
		Offset *int64 `json:"offset"`
	} `json:"requests"`
}

// describe lists the requests, with their Upload-Offset in MiB.
func (r tusRun) describe() string {
	var parts []string
	for _, q := range r.Requests {
		if q.Offset != nil {
			parts = append(parts, q.Method+" @"+strconv.FormatInt(*q.Offset>>20, 10)+"MiB")
		} else {
			parts = append(parts, q.Method)
		}
	}
	return strings.Join(parts, ", ")
}

// runTusClient runs upload.mjs with vars and decodes its answer.
func runTusClient(t *testing.T, node string, vars ...string) tusRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "upload.mjs")
	cmd.Dir = tusDir
	cmd.Env = append(os.Environ(), vars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var run tusRun
	if jerr := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &run); err != nil || jerr != nil {
		t.Fatalf("upload.mjs: %v; %v\nstdout: %s\nstderr: %s", err, jerr, stdout.String(), stderr.String())
	}
	return run
}

// TestTusClientResumesAcrossReplicas: tus-js-client 4.3.1 in Node sends 64 MiB in 8 MiB
// PATCHes to one gateway replica and stops (abort(false)) in the middle of the fifth; a new
// Upload with the upload URL, pointed at the other replica, asks HEAD for the offset and
// carries on from there. The object matches byte for byte (and the token's sha256, checked
// across both replicas), one webhook arrives, one hit is spent, and nothing is left over.
func TestTusClientResumesAcrossReplicas(t *testing.T) {
	node := tusDeps(t)
	begin := time.Now()
	env := newEnv(t, false)
	rc := newReceiver(t)
	config := env.Config(func(cfg map[string]any) {
		section(cfg, "server")["host"] = "http://LISTEN" // each replica names its own upload URLs
		withWebhooks("100ms")(cfg)
	})
	a, b := startGateway(t, config), startGateway(t, config)

	const size, chunk = 64 << 20, 8 << 20
	data := randomBytes(size)
	file := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	key := "tus/e2e-64m.bin"
	tok := client{t, a.URL}.mint(`{"bucket":"assets","key":"` + key + `","method":"PUT","size":67108864,` +
		`"sha256":"` + hex.EncodeToString(sum[:]) + `","callback":"` + rc.srv.URL + `/hook"}`)

	first := runTusClient(t, node, "AG_FILE="+file, "AG_ENDPOINT="+a.URL+"/tus/"+tok,
		"AG_CHUNK="+itoa(chunk), "AG_ABORT_AT="+itoa(36<<20))
	if first.Event != "aborted" || !strings.HasPrefix(first.URL, a.URL+"/tus/"+tok+"/") {
		t.Fatalf("first run through replica A: %+v", first)
	}
	resumeURL := b.URL + strings.TrimPrefix(first.URL, a.URL)
	second := runTusClient(t, node, "AG_FILE="+file, "AG_UPLOAD_URL="+resumeURL, "AG_CHUNK="+itoa(chunk))
	if second.Event != "done" {
		t.Fatalf("resumed run through replica B: %+v", second)
	}
	t.Logf("replica A: %s; stopped once %d MiB were sent. Replica B: %s", first.describe(), first.Sent>>20, second.describe())
	if len(second.Requests) < 2 || second.Requests[0].Method != "HEAD" || second.Requests[1].Method != "PATCH" {
		t.Fatalf("the resumed client's requests: %+v, want HEAD then PATCHes", second.Requests)
	}
	if off := second.Requests[1].Offset; off == nil || *off < 4*chunk {
		t.Fatalf("the first PATCH after resuming carries Upload-Offset %v, want the 4 chunks stored (%d) or more", off, 4*chunk)
	}

	got, err := env.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &env.Bucket, Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, got.Body)
	got.Body.Close()
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("object in MinIO: %d bytes, sha256 %x (%v), want %d bytes, %x", n, h.Sum(nil), err, size, sum)
	}
	c := client{t, b.URL}
	if hits := c.usedHits(tok); hits != 1 {
		t.Errorf("used_hits: %d, want 1", hits)
	}
	if rec := c.record(tok, "/status"); rec["uploaded"] != true {
		t.Errorf("status: uploaded %v, want true", rec["uploaded"])
	}
	rc.waitDelivered(t, 1, 10*time.Second)
	a.Stop(t) // drains both callback queues: a second event would be delivered by now
	b.Stop(t)
	if distinct, most, bad := rc.delivered(); distinct != 1 || most != 1 || bad != 0 {
		t.Errorf("webhooks: %d events, delivered up to %d times, %d bad signatures; want exactly one", distinct, most, bad)
	}
	if err := env.uploadLeftovers(key); err != nil {
		t.Error(err)
	}
	assertNoSecrets(t, a, tok)
	assertNoSecrets(t, b, tok)
	t.Logf("TestTusClientResumesAcrossReplicas: %v", time.Since(begin).Round(time.Millisecond))
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestTusJanitorEndsUploads: the real binary's janitor (uploads.janitor_interval 1s) ends an
// upload that expired (tus.upload_ttl 2s) and one whose token was revoked: their multipart
// uploads are aborted and their temporary objects deleted, and the expired one's hit comes
// back. Each upload holds a part and pending bytes in MinIO before.
func TestTusJanitorEndsUploads(t *testing.T) {
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		cfg["tus"] = map[string]any{"upload_ttl": "3s"}
		cfg["uploads"] = map[string]any{"janitor_interval": "1s"}
	}))
	c := client{t, gw.URL}
	data := randomBytes(5<<20 + 1000) // one 5 MiB part and 1000 pending bytes
	start := func(key string) (tok, path string) {
		tok = c.mint(`{"bucket":"assets","key":"` + key + `","method":"PUT"}`)
		resp, body := c.do("POST", "/tus/"+tok, nil, "Tus-Resumable", "1.0.0", "Upload-Length", itoa(2*len(data)))
		if resp.StatusCode != 201 {
			t.Fatalf("POST /tus: %d %s", resp.StatusCode, body)
		}
		path = strings.TrimPrefix(resp.Header.Get("Location"), "https://gw.example.com")
		for _, part := range [][]byte{data[:5<<20], data[5<<20:]} {
			off := "0"
			if len(part) < 5<<20 {
				off = itoa(5 << 20)
			}
			resp, body := c.do("PATCH", path, bytes.NewReader(part), "Tus-Resumable", "1.0.0", "Upload-Offset", off,
				"Content-Type", "application/offset+octet-stream")
			if resp.StatusCode != 204 {
				t.Fatalf("PATCH at %s: %d %s", off, resp.StatusCode, body)
			}
		}
		return tok, path
	}
	expired, _ := start("tus/janitor/expired.bin")
	revoked, _ := start("tus/janitor/revoked.bin")
	if err := env.uploadLeftovers("tus/janitor/"); err == nil {
		t.Fatal("nothing in the bucket after two PATCHes of each upload")
	}
	if resp, body := c.do("DELETE", "/token/"+revoked, nil, "Authorization", "Bearer "+controlToken); resp.StatusCode != 204 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if !pollUntil(15*time.Second, func() bool { return env.uploadLeftovers("tus/janitor/") == nil }) {
		t.Fatalf("15s on: %v", env.uploadLeftovers("tus/janitor/"))
	}
	c.waitUsedHits(expired, 0, 5*time.Second) // an upload that ends without an object hands its hit back
	if !strings.Contains(gw.Log(), `"msg":"upload_ended"`) {
		t.Errorf("no upload_ended in the log:\n%s", gw.Log())
	}
	assertNoSecrets(t, gw, expired, revoked)
}

// uploadLeftovers says what uploads left in the env's bucket: multipart uploads under prefix
// and temporary objects; nil when nothing.
func (e *Env) uploadLeftovers(prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mp, err := e.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.Bucket, Prefix: aws.String(prefix)})
	if err != nil {
		return err
	}
	tmp, err := e.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &e.Bucket, Prefix: aws.String(upload.ScratchPrefix)})
	if err != nil {
		return err
	}
	if n, m := len(mp.Uploads), len(tmp.Contents); n+m > 0 {
		return fmt.Errorf("%d multipart uploads and %d temporary objects left", n, m)
	}
	return nil
}
