package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/tus"
)

// The tus operations of the document, against the gateway under validation.

func init() {
	// tus bodies are bytes, as application/octet-stream ones are.
	openapi3filter.RegisterBodyDecoder("application/offset+octet-stream", openapi3filter.FileBodyDecoder)
}

// oasTus is the gateway's tus handler, on its store (faults included) and buckets.
func oasTus(g *oasGateway, buckets map[string]objstore.Backend) *tus.Handler {
	return tus.New(tus.Options{Store: g.store, Buckets: buckets, Budget: objstore.NewUploadBudget(64 << 20),
		Host: g.url, UploadTTL: time.Hour, Now: g.clock.Now})
}

const unknownUpload = "/tus/openapi-unknown-token-01/AAAAAAAAAAAAAAAAAAAAAA"

// tusHeaders are a tus request's headers: Tus-Resumable, then more.
func tusHeaders(more ...string) []string { return append([]string{"Tus-Resumable", "1.0.0"}, more...) }

func patchHeaders(offset string, more ...string) []string {
	return tusHeaders(append([]string{"Content-Type", "application/offset+octet-stream", "Upload-Offset", offset}, more...)...)
}

// tusPut mints a PUT token for key with extra members and returns it (and checks its tus_url).
func (g *oasGateway) tusPut(t *testing.T, key, extra string) string {
	t.Helper()
	e := g.do(t, oasCall{method: "POST", path: "/token", control: true, header: []string{"Content-Type", "application/json"},
		body: `{"bucket":"local","key":"` + key + `","method":"PUT"` + extra + `}`}, http.StatusCreated)
	m := e.json(t)
	if m["tus_url"] != g.url+"/tus/"+m["token"].(string) {
		t.Fatalf("tus_url: %v", m["tus_url"])
	}
	return m["token"].(string)
}

// tusCreate creates an upload of length n and returns its path.
func (g *oasGateway) tusCreate(t *testing.T, tok, n string) string {
	t.Helper()
	e := g.do(t, oasCall{method: "POST", path: "/tus/" + tok, header: tusHeaders("Upload-Length", n)}, 201)
	return strings.TrimPrefix(e.resp.Header.Get("Location"), g.url)
}

func (g *oasGateway) exerciseTus(t *testing.T) {
	post := func(tok string, status int, hdr ...string) {
		t.Helper()
		g.do(t, oasCall{method: "POST", path: "/tus/" + tok, header: tusHeaders(hdr...)}, status)
	}
	t.Run("POST", func(t *testing.T) {
		tok := g.tusPut(t, "tus/created.bin", `,"size":100`)
		g.tusCreate(t, tok, "10")
		post(tok, 409, "Upload-Length", "10") // the token's one hit is spent
		post(g.tusPut(t, "tus/x", ""), 400)
		post(g.tusPut(t, "tus/x", `,"ip":["10.0.0.0/8"]`), 403, "Upload-Length", "1")
		post("openapi-unknown-token-01", 404, "Upload-Length", "1")
		post(g.mint(t, `"method":"GET"`), 405, "Upload-Length", "1")
		expiring := g.tusPut(t, "tus/x", `,"expires_in":1`)
		g.clock.Advance(2 * time.Second)
		post(expiring, 410, "Upload-Length", "1")
		g.do(t, oasCall{method: "POST", path: "/tus/" + tok, header: []string{"Upload-Length", "1"}, invalidRequest: true}, 412)
		post(g.tusPut(t, "tus/x", `,"size":100`), 413, "Upload-Length", "101")
		post(g.tusPut(t, "tus/x", `,"content_types":["image/*"]`), 415, "Upload-Length", "1", "Upload-Metadata", "filetype dGV4dC9wbGFpbg==")
		broken := g.mintJSON(t, `{"bucket":"broken","key":"k","method":"PUT"}`)
		post(broken, 502, "Upload-Length", "0") // the empty object cannot be made
		other := g.tusPut(t, "tus/x", "")
		g.store.mode.Store(1)
		post(other, 503, "Upload-Length", "1")
		g.store.mode.Store(2)
		post(other, 500, "Upload-Length", "1")
		g.store.mode.Store(0)
	})
	t.Run("OPTIONS", func(t *testing.T) {
		tok := g.tusPut(t, "tus/options.bin", `,"size":100`)
		path := g.tusCreate(t, tok, "10")
		for _, p := range []string{"/tus/" + tok, path} {
			if e := g.do(t, oasCall{method: "OPTIONS", path: p}, 204); e.resp.Header.Get("Tus-Max-Size") != "100" {
				t.Fatalf("OPTIONS %s: Tus-Max-Size %q", p, e.resp.Header.Get("Tus-Max-Size"))
			}
			g.do(t, oasCall{method: "OPTIONS", path: p, header: []string{"Origin", "https://app.example.com",
				"Access-Control-Request-Method", "PATCH"}}, 204)
		}
		g.do(t, oasCall{method: "OPTIONS", path: "/tus/openapi-unknown-token-01"}, 404)
		g.do(t, oasCall{method: "OPTIONS", path: unknownUpload}, 404)
		bound := g.tusPut(t, "tus/x", `,"ip":["10.0.0.0/8"]`)
		g.do(t, oasCall{method: "OPTIONS", path: "/tus/" + bound}, 403)
		g.do(t, oasCall{method: "OPTIONS", path: "/tus/" + bound + "/AAAAAAAAAAAAAAAAAAAAAA"}, 403)
		for mode, status := range map[int32]int{1: 503, 2: 500} {
			g.store.mode.Store(mode)
			g.do(t, oasCall{method: "OPTIONS", path: "/tus/" + tok}, status)
			g.do(t, oasCall{method: "OPTIONS", path: path}, status)
		}
		g.store.mode.Store(0)
		expiring := g.tusPut(t, "tus/x", `,"expires_in":1`)
		g.clock.Advance(2 * time.Second)
		if e := g.do(t, oasCall{method: "OPTIONS", path: "/tus/" + expiring}, 204); e.resp.Header.Get("Tus-Max-Size") != "" {
			t.Errorf("OPTIONS of an expired token: Tus-Max-Size %q, want none", e.resp.Header.Get("Tus-Max-Size"))
		}
	})
	t.Run("HEAD PATCH DELETE", func(t *testing.T) { g.exerciseTusUpload(t) })
}

// exerciseTusUpload: the upload URL's operations, every documented answer.
func (g *oasGateway) exerciseTusUpload(t *testing.T) {
	tok := g.tusPut(t, "tus/upload.bin", "")
	path := g.tusCreate(t, tok, "10")
	id := path[strings.LastIndexByte(path, '/')+1:]
	patch := func(p, offset, body string, status int, more ...string) {
		t.Helper()
		g.do(t, oasCall{method: "PATCH", path: p, header: patchHeaders(offset, more...), body: body}, status)
	}
	head := func(p string, status int, hdr ...string) {
		t.Helper()
		g.do(t, oasCall{method: "HEAD", path: p, header: hdr, invalidRequest: len(hdr) == 0}, status)
	}
	del := func(p string, status int, hdr ...string) {
		t.Helper()
		g.do(t, oasCall{method: "DELETE", path: p, header: hdr, invalidRequest: len(hdr) == 0}, status)
	}
	head(path, 200, tusHeaders()...)
	head(path, 412)
	head("/tus/"+tok+"/AAAAAAAAAAAAAAAAAAAAAA", 404, tusHeaders()...)
	patch(path, "0", "01234", 204)
	patch(path, "3", "34567", 409)
	patch(path, "5", "567890", 413)
	patch(path, "5", "56789", 400, "Upload-Checksum", "crc32 AAAA")
	patch(path, "5", "56789", 460, "Upload-Checksum", "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	patch("/tus/"+tok+"/AAAAAAAAAAAAAAAAAAAAAA", "0", "x", 404)
	g.do(t, oasCall{method: "PATCH", path: path, header: []string{"Content-Type", "application/offset+octet-stream", "Upload-Offset", "5"},
		body: "56789", invalidRequest: true}, 412)
	g.do(t, oasCall{method: "PATCH", path: path, header: tusHeaders("Content-Type", "text/plain", "Upload-Offset", "5"),
		body: "56789", invalidRequest: true}, 415)
	ctx := context.Background()
	if ok, err := g.store.LockUpload(ctx, token.ID(tok), id, "another writer", time.Minute); !ok || err != nil {
		t.Fatalf("LockUpload: %v %v", ok, err)
	}
	patch(path, "5", "56789", 423)
	del(path, 423, tusHeaders()...)
	if err := g.store.UnlockUpload(ctx, token.ID(tok), id, "another writer"); err != nil {
		t.Fatal(err)
	}
	for mode, status := range map[int32]int{1: 503, 2: 500} {
		g.store.mode.Store(mode)
		head(path, status, tusHeaders()...)
		patch(path, "5", "56789", status)
		del(path, status, tusHeaders()...)
	}
	g.store.mode.Store(0)
	patch(path, "5", "56789", 204) // the last byte: the object exists
	g.do(t, oasCall{method: "GET", path: "/token/" + tok + "/status", control: true}, 200)

	// 412 precondition_failed: the token's if_none_match finds that object.
	inm := g.tusPut(t, "tus/upload.bin", `,"if_none_match":true`)
	patch(g.tusCreate(t, inm, "1"), "0", "x", 412)
	// 502: the store refuses the bytes.
	broken := g.mintJSON(t, `{"bucket":"broken","key":"k","method":"PUT"}`)
	bp := g.do(t, oasCall{method: "POST", path: "/tus/" + broken, header: tusHeaders("Upload-Length", "10")}, 201)
	patch(strings.TrimPrefix(bp.resp.Header.Get("Location"), g.url), "0", "01234", 502)
	// Termination, then 404; expiry: 410.
	ended := g.tusCreate(t, g.tusPut(t, "tus/ended.bin", ""), "10")
	del(ended, 412)
	del(ended, 204, tusHeaders()...)
	del(ended, 404, tusHeaders()...)
	expiring := g.tusCreate(t, g.tusPut(t, "tus/expiring.bin", `,"expires_in":5`), "10")
	g.clock.Advance(6 * time.Second)
	head(expiring, 410, tusHeaders()...)
	patch(expiring, "0", "x", 410)
}

// limitedTus: the tus operations that look a token up refuse a client over its budget.
func limitedTus(t *testing.T, limited *oasGateway) {
	for _, c := range []oasCall{
		{method: "POST", path: "/tus/openapi-unknown-token-01", header: tusHeaders("Upload-Length", "1")},
		{method: "HEAD", path: unknownUpload, header: tusHeaders()},
		{method: "PATCH", path: unknownUpload, header: patchHeaders("0"), body: "x"},
		{method: "DELETE", path: unknownUpload, header: tusHeaders()},
		{method: "OPTIONS", path: "/tus/openapi-unknown-token-01"},
		{method: "OPTIONS", path: unknownUpload},
	} {
		limited.do(t, c, 429)
	}
}
