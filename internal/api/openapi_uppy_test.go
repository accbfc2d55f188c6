package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// oasUppy takes Uppy's endpoints (/uppy/{token}/s3/…) through every answer openapi.yaml
// lists, on the "direct" alias (fakeS3).
func (g *oasGateway) oasUppy(t *testing.T) {
	n := 0
	mint := func(fields string) (tok, key string) {
		n++
		key = fmt.Sprintf("uppy/%d.bin", n)
		if fields != "" {
			fields = "," + fields
		}
		return g.mintJSON(t, fmt.Sprintf(`{"bucket":"direct","key":%q,"method":"PUT"%s}`, key, fields)), key
	}
	up := func(tok, key string) oasUpload {
		e := g.do(t, oasCall{method: "POST", path: "/uppy/" + tok + "/s3/multipart", body: `{"type":"text/plain"}`,
			header: []string{"Content-Type", "application/json"}}, 200)
		return oasUpload{g: g, tok: tok, key: key, id: e.json(t)["uploadId"].(string)}
	}

	t.Run("params", func(t *testing.T) { g.oasUppyParams(t, mint) })
	t.Run("start", func(t *testing.T) { g.oasUppyStart(t, mint) })

	t.Run("sign", func(t *testing.T) { g.oasUppySign(t, mint, up) })

	t.Run("list, complete, abort", func(t *testing.T) { g.oasUppyFinish(t, mint, up) })
}

// oasUppySign: GET /uppy/{token}/s3/multipart/{uploadId}/{partNumber}.
func (g *oasGateway) oasUppySign(t *testing.T, mint func(string) (string, string), up func(string, string) oasUpload) {
	const origin = "https://app.example.com"
	u := up(mint(`"size":4`)) // one part at most
	e := g.do(t, oasCall{method: "GET", path: u.path("/1"), header: []string{"Origin", origin}}, 200)
	if u8 := e.json(t)["url"].(string); !strings.HasPrefix(u8, g.directURL+"/b/"+u.key+"?") || !strings.Contains(u8, "X-Amz-Signature=") {
		t.Fatalf("part URL %q", u8)
	}
	g.do(t, oasCall{method: "GET", path: u.path("/0"), invalidRequest: true}, 400)
	g.do(t, oasCall{method: "GET", path: u.other("/1", "elsewhere")}, 403)
	g.do(t, oasCall{method: "GET", path: "/uppy/openapi-unknown-token-01/s3/multipart/" + u.id + "/1" + u.q()}, 404)
	g.storeModes(t, oasCall{method: "GET", path: u.path("/1")})
	u.locked(t, oasCall{method: "GET", path: u.path("/2")}) // past the bound: it would abort
	g.direct.fail.Store(true)
	g.do(t, oasCall{method: "GET", path: u.path("/2")}, 502) // the abort failed: the upload stays
	g.direct.fail.Store(false)
	g.do(t, oasCall{method: "GET", path: u.path("/2")}, 413)
	g.do(t, oasCall{method: "GET", path: u.path("/1")}, 403) // aborted
}

// oasUppyFinish: listing, completing and aborting an upload.
func (g *oasGateway) oasUppyFinish(t *testing.T, mint func(string) (string, string), up func(string, string) oasUpload) {
	const origin = "https://app.example.com"
	u := up(mint(`"size":10,"callback":"https://hooks.example.com/in"`))
	etag := u.send(t, 1, "hello")
	e := g.do(t, oasCall{method: "GET", path: u.path(""), header: []string{"Origin", origin}}, 200)
	if !strings.Contains(string(e.body), `"PartNumber":1,"ETag":"`+etag+`","Size":5`) {
		t.Fatalf("parts %s", e.body)
	}
	for _, c := range []oasCall{{method: "GET", path: u.path("")}, {method: "POST", path: u.path("/complete"), body: parts(1, etag)}} {
		c.header = []string{"Content-Type", "application/json"}
		g.do(t, oasCall{method: c.method, path: strings.Replace(c.path, u.q(), "?key=elsewhere", 1), body: c.body, header: c.header}, 403)
		g.do(t, oasCall{method: c.method, path: strings.Replace(c.path, u.tok, "openapi-unknown-token-01", 1), body: c.body, header: c.header}, 404)
		g.storeModes(t, c)
		g.direct.fail.Store(true)
		g.do(t, c, 502)
		g.direct.fail.Store(false)
	}
	complete := oasCall{method: "POST", path: u.path("/complete"), body: parts(1, etag), header: []string{"Content-Type", "application/json"}}
	g.do(t, oasCall{method: "POST", path: u.path("/complete"), body: parts(1, "0123456789abcdef0123456789abcdef"),
		header: complete.header}, 400) // a part never sent with that ETag
	u.locked(t, complete)
	g.do(t, oasCall{method: "OPTIONS", path: u.path("/complete"), header: []string{"Origin", origin,
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}}, 204)
	e = g.do(t, oasCall{method: "POST", path: u.path("/complete"), body: parts(1, etag),
		header: append([]string{"Origin", origin}, complete.header...)}, 200)
	if e.json(t)["location"] != g.url+"/object/"+u.tok || e.resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("completion: %s %v", e.body, e.resp.Header)
	}
	g.do(t, complete, 403) // spent

	big := up(mint(`"size":4`))
	g.do(t, oasCall{method: "POST", path: big.path("/complete"), body: parts(1, big.send(t, 1, "hello")), header: complete.header}, 413)
	_, key := mint("")
	g.direct.store(key)
	never := up(g.mintJSON(t, fmt.Sprintf(`{"bucket":"direct","key":%q,"method":"PUT","if_none_match":true}`, key)), key)
	g.do(t, oasCall{method: "POST", path: never.path("/complete"), body: parts(1, never.send(t, 1, "x")), header: complete.header}, 412)

	gone := up(mint(""))
	abort := oasCall{method: "DELETE", path: gone.path("")}
	g.do(t, oasCall{method: "OPTIONS", path: gone.path(""), header: []string{"Origin", origin, "Access-Control-Request-Method", "DELETE"}}, 204)
	g.do(t, oasCall{method: "DELETE", path: gone.other("", "elsewhere")}, 403)
	g.do(t, oasCall{method: "DELETE", path: strings.Replace(gone.path(""), gone.tok, "openapi-unknown-token-01", 1)}, 404)
	g.storeModes(t, abort)
	gone.locked(t, abort)
	g.direct.fail.Store(true)
	g.do(t, abort, 502)
	g.direct.fail.Store(false)
	g.do(t, abort, 204)
	g.do(t, abort, 403)
}

// oasUppyParams: GET /uppy/{token}/s3/params.
func (g *oasGateway) oasUppyParams(t *testing.T, mint func(string) (string, string)) {
	tok, key := mint(`"size":100`)
	e := g.do(t, oasCall{method: "GET", path: "/uppy/" + tok + "/s3/params?filename=a.txt&type=text/plain",
		header: []string{"Origin", "https://app.example.com"}}, 200)
	if f := e.json(t)["fields"].(map[string]any); f["key"] != key || f["Content-Type"] != "text/plain" {
		t.Fatalf("fields %v", f)
	}
	g.do(t, oasCall{method: "GET", path: "/uppy/" + tok + "/s3/params"}, 409)
	for status, tok := range g.oasUppyRefusals(t, mint) {
		g.do(t, oasCall{method: "GET", path: "/uppy/" + tok + "/s3/params?type=text/html"}, status)
	}
	g.storeModes(t, oasCall{method: "GET", path: "/uppy/" + tok + "/s3/params"})
}

// oasUppyStart: POST /uppy/{token}/s3/multipart and its preflight.
func (g *oasGateway) oasUppyStart(t *testing.T, mint func(string) (string, string)) {
	jsonCT := []string{"Content-Type", "application/json"}
	tok, key := mint("")
	path := "/uppy/" + tok + "/s3/multipart"
	g.do(t, oasCall{method: "OPTIONS", path: path, header: []string{"Origin", "https://app.example.com",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}}, 204)
	g.do(t, oasCall{method: "POST", path: path, body: `{"type":`, header: jsonCT, invalidRequest: true}, 400)
	g.do(t, oasCall{method: "POST", path: path, header: jsonCT,
		body: `{"type":"text/plain","filename":"` + strings.Repeat("x", 70<<10) + `"}`}, 413)
	g.storeModes(t, oasCall{method: "POST", path: path, body: `{"type":"text/plain"}`, header: jsonCT})
	g.direct.fail.Store(true)
	g.do(t, oasCall{method: "POST", path: path, body: `{"type":"text/plain"}`, header: jsonCT}, 502) // the hit is handed back
	g.direct.fail.Store(false)
	e := g.do(t, oasCall{method: "POST", path: path, body: `{"filename":"a.txt","type":"text/plain","metadata":{"name":"a.txt"}}`, header: jsonCT}, 200)
	if e.json(t)["key"] != key {
		t.Fatalf("started: %s", e.body)
	}
	g.do(t, oasCall{method: "POST", path: path, body: `{"type":"text/plain"}`, header: jsonCT}, 409)
	for status, tok := range g.oasUppyRefusals(t, mint) {
		g.do(t, oasCall{method: "POST", path: "/uppy/" + tok + "/s3/multipart", body: `{"type":"text/html"}`, header: jsonCT}, status)
	}
}

// oasUppyRefusals are tokens that may not start an upload, by the status each gets.
func (g *oasGateway) oasUppyRefusals(t *testing.T, mint func(string) (string, string)) map[int]string {
	ipTok, _ := mint(`"ip":["10.0.0.0/8"]`)
	typed, _ := mint(`"content_types":["image/png"]`)
	expiring, _ := mint(`"expires_in":1`)
	g.clock.Advance(2 * time.Second)
	return map[int]string{
		400: g.mintJSON(t, `{"bucket":"local","key":"uppy.txt","method":"PUT"}`),
		403: ipTok,
		404: "openapi-unknown-token-01",
		405: g.mintJSON(t, `{"bucket":"direct","key":"uppy.txt","method":"GET"}`),
		410: expiring,
		415: typed,
	}
}

// storeModes sends c with the token store unreachable (503) and failing (500).
func (g *oasGateway) storeModes(t *testing.T, c oasCall) {
	t.Helper()
	for mode, status := range map[int32]int{1: 503, 2: 500} {
		g.store.mode.Store(mode)
		g.do(t, c, status)
		g.store.mode.Store(0)
	}
}

// oasUpload is an upload started through the gateway.
type oasUpload struct {
	g            *oasGateway
	tok, key, id string
}

func (u oasUpload) q() string { return "?key=" + url.QueryEscape(u.key) }

// path is the upload's URL with suffix ("", "/1", "/complete") and its key.
func (u oasUpload) path(suffix string) string {
	return "/uppy/" + u.tok + "/s3/multipart/" + u.id + suffix + u.q()
}

// other is path with another key.
func (u oasUpload) other(suffix, key string) string {
	return "/uppy/" + u.tok + "/s3/multipart/" + u.id + suffix + "?key=" + key
}

// send signs part n and PUTs data to its URL, as a browser does; it returns the ETag.
func (u oasUpload) send(t *testing.T, n int, data string) string {
	t.Helper()
	e := u.g.do(t, oasCall{method: "GET", path: u.path(fmt.Sprintf("/%d", n))}, 200)
	req, _ := http.NewRequest(http.MethodPut, e.json(t)["url"].(string), strings.NewReader(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT part %d: %v %v", n, resp, err)
	}
	resp.Body.Close()
	return strings.Trim(resp.Header.Get("ETag"), `"`)
}

// locked sends c while another request holds the upload's lock: 423.
func (u oasUpload) locked(t *testing.T, c oasCall) {
	t.Helper()
	ctx := context.Background()
	id := token.ID(u.tok)
	if ok, err := u.g.store.LockUpload(ctx, id, u.id, "another-request", time.Minute); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	u.g.do(t, c, 423)
	if err := u.g.store.UnlockUpload(ctx, id, u.id, "another-request"); err != nil {
		t.Fatal(err)
	}
}

// parts is a completion body of (number, ETag) pairs.
func parts(list ...any) string {
	var out []string
	for i := 0; i+1 < len(list); i += 2 {
		out = append(out, fmt.Sprintf(`{"PartNumber":%d,"ETag":%q}`, list[i], list[i+1]))
	}
	return `{"parts":[` + strings.Join(out, ",") + `]}`
}
