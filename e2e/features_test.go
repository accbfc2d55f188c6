package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// noFollow is a client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestRedirectDelivery: GET and PUT tokens answered with 307 to short-lived presigned URLs,
// per token and as a bucket alias's default; the gateway moves no object bytes.
func TestRedirectDelivery(t *testing.T) {
	env := newEnv(t, false)
	rc := newReceiver(t)
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		withWebhooks("100ms")(cfg)
		b := section(cfg, "buckets")["assets"].(map[string]any)
		b["presign_ttl"] = "20s"
		direct := map[string]any{}
		for k, v := range b {
			direct[k] = v
		}
		direct["delivery"] = "redirect"
		section(cfg, "buckets")["direct"] = direct
	}))
	c := client{t, gw.URL}
	content := randomBytes(100_000)

	// PUT through a redirect: the presigned URL binds the length and the type.
	put := c.mint(`{"bucket":"assets","key":"redirect/file.bin","method":"PUT","delivery":"redirect","size":200000}`)
	req, _ := http.NewRequest("PUT", gw.URL+"/object/"+put, bytes.NewReader(content))
	req.Header.Set("Content-Type", "application/x-test")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 307 || !strings.HasPrefix(loc, env.S3.Endpoint) {
		t.Fatalf("PUT: got %d Location %q, want 307 to the bucket", resp.StatusCode, loc)
	}
	wrong, _ := http.NewRequest("PUT", loc, bytes.NewReader(content[:99_999]))
	wrong.Header.Set("Content-Type", "application/x-test")
	if resp, err := http.DefaultClient.Do(wrong); err != nil || resp.StatusCode != 403 {
		t.Fatalf("presigned PUT with another length: %v %v, want 403 (the length is signed)", err, resp)
	}
	// A client that follows redirects (curl -L, fetch) re-sends the body there.
	req, _ = http.NewRequest("PUT", gw.URL+"/object/"+put, bytes.NewReader(content))
	req.Header.Set("Content-Type", "application/x-test")
	put2 := c.mint(`{"bucket":"assets","key":"redirect/file.bin","method":"PUT","delivery":"redirect"}`)
	req.URL.Path = "/object/" + put2
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT followed to the bucket: %v %v", err, resp)
	}
	if st := c.record(put2, "/status"); st["object_exists"] != true || st["object_size"] != float64(len(content)) || st["used_hits"] != 1.0 {
		t.Fatalf("status after a redirected upload: %v", st)
	}

	// GET through a redirect, with the token's file name signed into the URL.
	get := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"redirect/file.bin","method":"GET","delivery":"redirect","filename":"报告.bin","max_hits":2,"callback":%q}`, rc.srv.URL+"/h"))
	resp, err = noFollow.Get(gw.URL + "/object/" + get)
	if err != nil || resp.StatusCode != 307 {
		t.Fatalf("GET: %v %v", err, resp)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("redirect Cache-Control %q: a shared cache must not keep it", cc)
	}
	resp, err = http.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if resp.StatusCode != 200 || !bytes.Equal(body, content) || params["filename"] != "报告.bin" {
		t.Fatalf("following the redirect: %d, %d bytes, Content-Disposition %q", resp.StatusCode, len(body), resp.Header.Get("Content-Disposition"))
	}
	// A browser-like client carries Range across the redirect.
	req, _ = http.NewRequest("GET", gw.URL+"/object/"+get, nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(body, content[10:20]) {
		t.Fatalf("ranged GET through the redirect: %d %d bytes", resp.StatusCode, len(body))
	}
	resp, _ = noFollow.Get(gw.URL + "/object/" + get)
	resp.Body.Close()
	if resp.StatusCode != 409 {
		t.Fatalf("third GET of a 2-hit token: %d, want 409 (each redirect is a hit)", resp.StatusCode)
	}
	rc.waitDelivered(t, 2, 10*time.Second)
	rc.mu.Lock()
	for _, b := range rc.events {
		var ev map[string]any
		_ = json.Unmarshal(b, &ev)
		if ev["status"] != 307.0 || ev["key"] != "redirect/file.bin" {
			t.Errorf("redirect webhook: %v", ev)
		}
	}
	rc.mu.Unlock()

	// The alias "direct" redirects by default; a token can still ask to stream.
	def := c.mint(`{"bucket":"direct","key":"redirect/file.bin","method":"GET"}`)
	if resp, _ := noFollow.Get(gw.URL + "/object/" + def); resp.StatusCode != 307 {
		t.Fatalf("default redirect: %d", resp.StatusCode)
	}
	stream := c.mint(`{"bucket":"direct","key":"redirect/file.bin","method":"GET","delivery":"stream"}`)
	if resp, body := c.do("GET", "/object/"+stream, nil); resp.StatusCode != 200 || !bytes.Equal(body, content) {
		t.Fatalf("stream on a redirecting alias: %d", resp.StatusCode)
	}
}

// TestPrefixListDeleteOnS3: prefix tokens (an HLS playlist and its segments), LIST, DELETE
// and the upload constraints, against MinIO.
func TestPrefixListDeleteOnS3(t *testing.T) {
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(nil))
	c := client{t, gw.URL}
	for _, k := range []string{"hls/ep1/index.m3u8", "hls/ep1/seg-000.ts", "hls/ep1/seg-001.ts", "hls/ep2/index.m3u8"} {
		put := c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"PUT"}`, k))
		if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("data of "+k)); resp.StatusCode != 200 {
			t.Fatalf("PUT %s: %d %s", k, resp.StatusCode, b)
		}
	}
	show := c.mint(`{"bucket":"assets","prefix":"hls/ep1/","method":"GET"}`)
	if resp, b := c.do("GET", "/object/"+show+"/seg-001.ts", nil); resp.StatusCode != 200 || string(b) != "data of hls/ep1/seg-001.ts" {
		t.Fatalf("segment through the prefix token: %d %q", resp.StatusCode, b)
	}
	if resp, _ := c.do("GET", "/object/"+show+"/../ep2/index.m3u8", nil); resp.StatusCode != 404 {
		t.Fatalf("escaping the prefix: %d, want 404", resp.StatusCode)
	}
	list := c.mint(`{"bucket":"assets","prefix":"hls/ep1/","method":"LIST"}`)
	resp, b := c.do("GET", "/object/"+list+"?limit=2", nil)
	var page struct {
		Objects   []struct{ Key string }
		Truncated bool
		NextAfter string `json:"next_after"`
	}
	_ = json.Unmarshal(b, &page)
	if resp.StatusCode != 200 || len(page.Objects) != 2 || page.Objects[0].Key != "index.m3u8" || !page.Truncated {
		t.Fatalf("LIST: %d %s", resp.StatusCode, b)
	}

	del := c.mint(`{"bucket":"assets","key":"hls/ep2/index.m3u8","method":"DELETE"}`)
	if resp, _ := c.do("DELETE", "/object/"+del, nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if _, err := env.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &env.Bucket, Key: strPtr("hls/ep2/index.m3u8")}); err == nil {
		t.Fatal("the object is still in the bucket after DELETE")
	}

	sum := sha256.Sum256([]byte("checked"))
	put := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"up/checked.txt","method":"PUT","sha256":%q,"content_types":["text/*"],"metadata":{"owner":"e2e"},"if_none_match":true}`, hex.EncodeToString(sum[:])))
	if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("checked"), "Content-Type", "image/png"); resp.StatusCode != 415 {
		t.Fatalf("wrong type: %d %s", resp.StatusCode, b)
	}
	if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("tampered"), "Content-Type", "text/plain"); resp.StatusCode != 400 || !strings.Contains(string(b), "checksum_mismatch") {
		t.Fatalf("wrong content: %d %s", resp.StatusCode, b)
	}
	if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("checked"), "Content-Type", "text/plain"); resp.StatusCode != 200 {
		t.Fatalf("right content: %d %s", resp.StatusCode, b)
	}
	h, err := env.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &env.Bucket, Key: strPtr("up/checked.txt")})
	if err != nil || h.Metadata["owner"] != "e2e" {
		t.Fatalf("metadata in the bucket: %v %v", err, h)
	}
	again := c.mint(`{"bucket":"assets","key":"up/checked.txt","method":"PUT","if_none_match":true}`)
	if resp, b := c.do("PUT", "/object/"+again, strings.NewReader("overwrite")); resp.StatusCode != 412 {
		t.Fatalf("overwrite with if_none_match: %d %s", resp.StatusCode, b)
	}
}

func strPtr(s string) *string { return &s }

// TestBatchMintingOnRedis: 1000 tokens in one POST /tokens, filed in one pipeline.
func TestBatchMintingOnRedis(t *testing.T) {
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(nil))
	c := client{t, gw.URL}
	var items []string
	for i := range 1000 {
		items = append(items, fmt.Sprintf(`{"bucket":"assets","key":"b/%04d","method":"GET","max_hits":1}`, i))
	}
	resp, body := c.do("POST", "/tokens", strings.NewReader(`{"tokens":[`+strings.Join(items, ",")+`]}`),
		"Authorization", "Bearer "+controlToken)
	var out struct {
		Tokens []struct {
			Status int
			Token  string
		}
	}
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 || len(out.Tokens) != 1000 {
		t.Fatalf("POST /tokens: %d %.200s", resp.StatusCode, body)
	}
	for i, r := range out.Tokens {
		if r.Status != 201 {
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	if rec := c.record(out.Tokens[123].Token, ""); rec["key"] != "b/0123" {
		t.Fatalf("record: %v", rec)
	}
	resp, _ = c.do("GET", "/object/"+out.Tokens[5].Token, nil)
	if resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "object_not_found" {
		t.Fatalf("a batched token serves: %d %s", resp.StatusCode, resp.Header.Get("X-Error-Code"))
	}
}
