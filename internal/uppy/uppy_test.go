package uppy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/testenv"
)

// TestUppyRoundTrip: what Uppy does for a large file — start, sign parts, PUT them to the
// bucket (here two at once), list them, complete — lands the object at the token's key with
// the type and the token's metadata, marks the token uploaded, spends exactly its one hit and
// sends exactly one webhook; the upload id is then spent.
func TestUppyRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		o    gatewayOptions
	}{
		{"minio+embedded", gatewayOptions{}},
		{"minio+redis", gatewayOptions{redis: true}},
		{"versitygw+embedded", gatewayOptions{srv: testenv.VersityGW}},
	} {
		t.Run(c.name, func(t *testing.T) { roundTrip(t, newGateway(t, c.o)) })
	}
}

func roundTrip(t *testing.T, g *gateway) {
	tok := g.mint(`"size":12582912,"content_types":["video/*"],"metadata":{"owner":"u-1"}`)
	rec := g.record(tok)
	if rec["uppy_endpoint"] != g.url+"/uppy/"+tok {
		t.Fatalf("uppy_endpoint %v", rec["uppy_endpoint"])
	}
	u := g.mustCreate(tok, "video/mp4")
	if u.key != rec["key"] {
		t.Fatalf("create answered key %q, want the token's %q", u.key, rec["key"])
	}
	g.wantHits(tok, 1, "after create")
	parts := [][]byte{randomBytes(5 << 20), randomBytes(1<<20 + 3)}
	urls := make([]string, len(parts))
	for i := range parts {
		var status int
		var out []byte
		if urls[i], status, out = g.sign(u, fmt.Sprint(i+1)); status != http.StatusOK {
			t.Fatalf("sign %d: %d %s", i+1, status, out)
		}
	}
	etags := make([]string, len(parts))
	var wg sync.WaitGroup
	for i := range parts { // in parallel, as a browser may
		wg.Go(func() { etags[i] = g.put(urls[i], parts[i]) })
	}
	wg.Wait()
	status, out := g.do(http.MethodGet, u.base()+u.q(), "")
	var listed []struct {
		PartNumber int
		ETag       string
		Size       int
	}
	if json.Unmarshal(out, &listed); status != http.StatusOK || len(listed) != 2 || listed[1].ETag != etags[1] || listed[1].Size != len(parts[1]) {
		t.Fatalf("list parts: %d %s", status, out)
	}
	status, out = g.complete(u, completeBody(1, etags[0], 2, `"`+etags[1]+`"`))
	var done struct{ Location, Key string }
	if json.Unmarshal(out, &done); status != http.StatusOK || done.Location != g.url+"/object/"+tok || done.Key != u.key {
		t.Fatalf("complete: %d %s", status, out)
	}
	got, typ, ok := g.object(u.key)
	if !ok || !bytes.Equal(got, append(parts[0], parts[1]...)) || typ != "video/mp4" {
		t.Fatalf("object: %d bytes of %q (found %v)", len(got), typ, ok)
	}
	head, err := g.raw.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &g.bucket, Key: &u.key})
	if err != nil || head.Metadata["owner"] != "u-1" {
		t.Errorf("metadata: %v, %v", head.Metadata, err)
	}
	if rec := g.record(tok); rec["used_hits"] != 1.0 {
		t.Errorf("after completion: %v", rec)
	}
	status, out = g.do(http.MethodGet, "/token/"+tok+"/status", "", "Authorization", "Bearer "+controlToken)
	if !bytes.Contains(out, []byte(`"uploaded":true`)) {
		t.Errorf("status: %d %s", status, out)
	}
	evs := g.events.To(rec["callback"].(string))
	if len(evs) != 1 || evs[0].Method != "PUT" || evs[0].Status != 200 || evs[0].Size != int64(len(got)) || evs[0].Key != u.key {
		t.Errorf("webhooks: %+v", evs)
	}
	if n := g.openUploads(); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
	_, status, out = g.sign(u, "1")
	wantCode(t, "signing after completion", status, out, 403, "forbidden")
	_, status, out = g.create(tok, "video/mp4")
	wantCode(t, "a second upload", status, out, 409, "hits_exceeded")
	g.noSecrets(tok) // upload ids are logged: without the token they open nothing
}

// postForm sends a POST-policy upload as Uppy's form does.
func postForm(t *testing.T, hc *http.Client, target string, fields map[string]string, file []byte) int {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "blob")
	fw.Write(file)
	w.Close()
	resp, err := hc.Post(target, w.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestUppyParams: a small file goes up as one form POST under a policy of the token's key,
// type and size; handing the policy out spends the hit and fires a 307 webhook.
func TestUppyParams(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	tok := g.mint(`"size":1000,"content_types":["image/png"]`)
	rec := g.record(tok)
	q := url.Values{"filename": {"cat.png"}, "type": {"image/png"}, "metadata[name]": {"cat.png"}}
	status, out := g.do(http.MethodGet, "/uppy/"+tok+"/s3/params?"+q.Encode(), "")
	var p struct {
		Method, URL string
		Fields      map[string]string
	}
	if json.Unmarshal(out, &p); status != http.StatusOK || p.Method != "POST" || p.Fields["key"] != rec["key"] {
		t.Fatalf("params: %d %s", status, out)
	}
	if code := postForm(t, g.hc, p.URL, p.Fields, make([]byte, 1001)); code != http.StatusBadRequest {
		t.Errorf("a form over the size: %d, want the store's 400", code)
	}
	if code := postForm(t, g.hc, p.URL, p.Fields, make([]byte, 1000)); code/100 != 2 {
		t.Fatalf("the form upload: %d", code)
	}
	if got, typ, ok := g.object(rec["key"].(string)); !ok || len(got) != 1000 || typ != "image/png" {
		t.Errorf("object: %d bytes of %q", len(got), typ)
	}
	g.wantHits(tok, 1, "after params")
	if evs := g.events.To(rec["callback"].(string)); len(evs) != 1 || evs[0].Status != 307 || evs[0].Method != "PUT" {
		t.Errorf("webhooks: %+v", evs)
	}
	status, out = g.do(http.MethodGet, "/uppy/"+tok+"/s3/params?type=image/png", "")
	wantCode(t, "a second policy", status, out, 409, "hits_exceeded")

	other := g.mint(`"content_types":["image/png"]`)
	status, out = g.do(http.MethodGet, "/uppy/"+other+"/s3/params?type=text/html", "")
	wantCode(t, "a type outside content_types", status, out, 415, "unsupported_media_type")
	never := g.mint(`"if_none_match":true`)
	status, out = g.do(http.MethodGet, "/uppy/"+never+"/s3/params?type=image/png", "")
	wantCode(t, "if_none_match", status, out, 400, "bad_request")
	g.wantHits(other, 0, "refused type")
	g.wantHits(never, 0, "refused if_none_match")
}

// TestUppyJanitor: an upload left alone is aborted when its token's record ends (expire_at +
// retention), and at once when the token is revoked.
func TestUppyJanitor(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	ctx := context.Background()
	tok := g.mint(`"expires_in":60`)
	u := g.mustCreate(tok, "application/octet-stream")
	g.sendPart(u, 1, randomBytes(1000))
	revoked := g.mint(`"expires_in":3600`)
	g.mustCreate(revoked, "application/octet-stream")
	if n := g.openUploads(); n != 2 {
		t.Fatalf("%d uploads open, want 2", n)
	}
	if status, out := g.do(http.MethodDelete, "/token/"+revoked, "", "Authorization", "Bearer "+controlToken); status != 204 {
		t.Fatalf("revoke: %d %s", status, out)
	}
	if n, err := g.janitor.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("sweep after revoking: ended %d, %v; want 1", n, err)
	}
	if n := g.openUploads(); n != 1 {
		t.Errorf("after revoking: %d uploads open, want 1", n)
	}
	g.clock.Advance(60*time.Second + time.Hour - time.Second) // a second before the record ends
	if n, err := g.janitor.Sweep(ctx); n != 0 || err != nil {
		t.Fatalf("sweep before the end: ended %d, %v; want 0", n, err)
	}
	g.clock.Advance(2 * time.Second)
	if n, err := g.janitor.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("sweep after the end: ended %d, %v; want 1", n, err)
	}
	if n := g.openUploads(); n != 0 {
		t.Errorf("%d uploads left open", n)
	}
}

// TestUppyLimiter: a wrong token on /uppy counts toward the brute-force limiter as on
// /object: past the budget every request is refused, a right token included.
func TestUppyLimiter(t *testing.T) {
	g := newGateway(t, gatewayOptions{limit: api.RateLimit{PerMinute: 1, Burst: 2}})
	tok := g.mint(`"size":10`)
	for _, path := range []string{"/uppy/uppy-unknown-token-001/s3/multipart", "/uppy/uppy-unknown-token-002/s3/multipart"} {
		status, out := g.do(http.MethodPost, path, `{"type":"text/plain"}`)
		wantCode(t, "an unknown token", status, out, 404, "token_not_found")
	}
	status, out := g.do(http.MethodPost, "/uppy/"+tok+"/s3/multipart", `{"type":"text/plain"}`)
	wantCode(t, "the right token past the budget", status, out, 429, "too_many_requests")
	if rec, err := g.store.Get(context.Background(), tok); err != nil || rec.UsedHits != 0 {
		t.Errorf("refused by the limiter: used %d hits (%v), want 0", rec.UsedHits, err)
	}
}

// TestUppyEndpointInAnswers: POST /token, POST /tokens and GET /token give a PUT token of an
// alias with direct uploads its uppy_endpoint, and no other token one.
func TestUppyEndpointInAnswers(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	auth := []string{"Authorization", "Bearer " + controlToken}
	status, out := g.do(http.MethodPost, "/token", `{"bucket":"assets","key":"a.bin","method":"PUT"}`, auth...)
	type minted struct {
		Token        string
		UppyEndpoint string `json:"uppy_endpoint"`
	}
	var one minted
	if json.Unmarshal(out, &one); status != 201 || one.UppyEndpoint != g.url+"/uppy/"+one.Token {
		t.Errorf("POST /token: %d %s", status, out)
	}
	status, out = g.do(http.MethodPost, "/tokens", `{"tokens":[{"bucket":"assets","key":"a.bin","method":"PUT"},`+
		`{"bucket":"assets","key":"a.bin","method":"GET"},{"bucket":"files","key":"a.bin","method":"PUT"},`+
		`{"bucket":"plain","key":"a.bin","method":"PUT"}]}`, auth...)
	var batch struct{ Tokens []minted }
	if json.Unmarshal(out, &batch); status != 200 || len(batch.Tokens) != 4 || batch.Tokens[0].UppyEndpoint != g.url+"/uppy/"+batch.Tokens[0].Token {
		t.Fatalf("POST /tokens: %d %s", status, out)
	}
	for i, it := range batch.Tokens[1:] {
		if it.UppyEndpoint != "" {
			t.Errorf("POST /tokens item %d (not a direct PUT token): uppy_endpoint %q", i+1, it.UppyEndpoint)
		}
	}
	if rec := g.record(one.Token); rec["uppy_endpoint"] != one.UppyEndpoint {
		t.Errorf("GET /token: %v", rec)
	}
}
