package uppy_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestUppyHostile: every refusal, by a stranger, a token holder or a lying client. An
// innocent user's upload runs beside them all: at the end it completes with its one hit,
// its bytes and its one webhook, whatever the others did.
func TestUppyHostile(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	tok := g.mint(`"size":12582912`)
	cb := g.record(tok)["callback"].(string)
	first := randomBytes(5 << 20)
	in := innocent{u: g.mustCreate(tok, "text/plain")}
	in.etag = g.sendPart(in.u, 1, first)
	for _, c := range []struct {
		name string
		run  func(*testing.T, *gateway, innocent)
	}{
		{"a stranger without the token", hostileStranger},
		{"a token holder on another token's upload", hostileOtherToken},
		{"a key that is not the token's", hostileOtherKey},
		{"HEAD spends and signs nothing", hostileHead},
		{"part numbers", hostilePartNumbers},
		{"a part beyond the bound", hostileBeyondBound},
		{"parts whose total passes the cap", hostileOverCap},
		{"a lying client", hostileLyingClient},
		{"concurrent completes", func(t *testing.T, g *gateway, _ innocent) { concurrentCompletes(t, g) }},
		{"tokens that cannot upload directly", hostileNotDirect},
		{"the token's rules", func(t *testing.T, g *gateway, _ innocent) { tokenRules(t, g) }},
		{"abort", hostileAbort},
		{"malformed requests", hostileMalformed},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, g.on(t), in) })
	}

	// The innocent upload, all along beside the others: it completes with its one hit.
	e2 := g.sendPart(in.u, 2, []byte("the end"))
	if status, out := g.complete(in.u, completeBody(1, in.etag, 2, e2)); status != 200 {
		t.Fatalf("the innocent completion: %d %s", status, out)
	}
	got, _, _ := g.object(in.u.key)
	if !bytes.Equal(got, append(first, "the end"...)) {
		t.Errorf("the innocent object: %d bytes", len(got))
	}
	g.wantHits(tok, 1, "the innocent token")
	if evs := g.events.To(cb); len(evs) != 1 || evs[0].Status != 200 {
		t.Errorf("the innocent webhooks: %+v", evs)
	}
}

// innocent is the upload that runs beside the hostile cases: its first part is sent.
type innocent struct {
	u    started
	etag string // part 1's
}

func hostileStranger(t *testing.T, g *gateway, in innocent) {
	fake := started{tok: "uppy-made-up-token-0001", id: in.u.id, key: in.u.key}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/uppy/" + fake.tok + "/s3/params?type=text/plain", ""},
		{"POST", "/uppy/" + fake.tok + "/s3/multipart", `{"type":"text/plain"}`},
		{"GET", fake.base() + "/1" + fake.q(), ""},
		{"GET", fake.base() + fake.q(), ""},
		{"POST", fake.base() + "/complete" + fake.q(), completeBody(1, in.etag)},
		{"DELETE", fake.base() + fake.q(), ""},
		{"GET", "/uppy/" + fake.tok + "/s3/multipart/not-an-id/1" + fake.q(), ""},
		{"GET", "/uppy/short/s3/multipart/" + in.u.id + "/1" + fake.q(), ""},
	} {
		status, out := g.do(c.method, c.path, c.body)
		wantCode(t, c.method+" "+c.path, status, out, 404, "token_not_found")
	}
}

func hostileOtherToken(t *testing.T, g *gateway, in innocent) {
	other := g.mint(`"size":12582912`)
	mine := g.mustCreate(other, "text/plain")
	theirs := started{tok: other, id: in.u.id, key: in.u.key} // the innocent's id and key, the other's token
	for _, c := range []struct{ method, path, body string }{
		{"GET", theirs.base() + "/2" + theirs.q(), ""},
		{"GET", theirs.base() + theirs.q(), ""},
		{"POST", theirs.base() + "/complete" + theirs.q(), completeBody(1, in.etag)},
		{"DELETE", theirs.base() + theirs.q(), ""},
		{"GET", theirs.base() + "/2?key=" + url.QueryEscape(mine.key), ""},
	} {
		status, out := g.do(c.method, c.path, c.body)
		wantCode(t, c.method+" with another token", status, out, 403, "forbidden")
	}
	g.wantHits(other, 1, "the other token")
}

func hostileOtherKey(t *testing.T, g *gateway, in innocent) {
	wrong := started{tok: in.u.tok, id: in.u.id, key: "up/elsewhere.bin"}
	for _, c := range []struct{ method, path, body string }{
		{"GET", wrong.base() + "/2" + wrong.q(), ""},
		{"GET", wrong.base() + wrong.q(), ""},
		{"POST", wrong.base() + "/complete" + wrong.q(), completeBody(1, in.etag)},
		{"DELETE", wrong.base() + wrong.q(), ""},
		{"GET", wrong.base() + "/2", ""}, // no key at all
	} {
		status, out := g.do(c.method, c.path, c.body)
		wantCode(t, c.method+" with another key", status, out, 403, "forbidden")
	}
}

func hostileHead(t *testing.T, g *gateway, in innocent) {
	tok := g.mint(`"size":6291456`)
	for _, path := range []string{"/uppy/" + tok + "/s3/params?type=text/plain", in.u.base() + "/1" + in.u.q(),
		in.u.base() + "/4" + in.u.q(), in.u.base() + in.u.q()} { // part 4: past the bound, a GET would abort
		if status, _ := g.do(http.MethodHead, path, ""); status != 405 {
			t.Errorf("HEAD %s: %d, want 405", path, status)
		}
	}
	g.wantHits(tok, 0, "HEADs")
}

func hostilePartNumbers(t *testing.T, g *gateway, in innocent) {
	for _, n := range []string{"0", "-1", "10001", "1e3", "two", "99999999999"} {
		_, status, out := g.sign(in.u, n)
		wantCode(t, "part "+n, status, out, 400, "bad_request")
	}
}

func hostileBeyondBound(t *testing.T, g *gateway, in innocent) {
	tok := g.mint(`"size":6291456`) // 6 MiB: at most 2 parts
	u := g.mustCreate(tok, "text/plain")
	g.sendPart(u, 1, randomBytes(5<<20))
	_, status, out := g.sign(u, "3")
	wantCode(t, "part 3 of a 6 MiB token", status, out, 413, "size_exceeded")
	g.wantHits(tok, 0, "after the refusal") // handed back: a smaller file may go up
	g.wantGone(u)
	g.mustCreate(tok, "text/plain")
}

func hostileOverCap(t *testing.T, g *gateway, in innocent) {
	tok := g.mint(`"size":6291456`)
	u := g.mustCreate(tok, "text/plain")
	e1 := g.sendPart(u, 1, randomBytes(5<<20))
	e2 := g.sendPart(u, 2, randomBytes(2<<20))
	status, out := g.complete(u, completeBody(1, e1, 2, e2))
	wantCode(t, "7 MiB under a 6 MiB cap", status, out, 413, "size_exceeded")
	g.wantHits(tok, 0, "after the refusal")
	g.wantGone(u)
}

func hostileLyingClient(t *testing.T, g *gateway, in innocent) {
	tok := g.mint(`"size":12582912`)
	u := g.mustCreate(tok, "text/plain")
	e1 := g.sendPart(u, 1, []byte("all there is"))
	for name, body := range map[string]string{
		"a part never sent":      completeBody(1, e1, 2, e1),
		"another ETag":           completeBody(1, "0123456789abcdef0123456789abcdef"),
		"no parts":               `{"parts":[]}`,
		"numbers out of order":   completeBody(2, e1, 1, e1),
		"a part past the bound":  completeBody(1, e1, 4, e1),
		"an empty ETag":          completeBody(1, ""),
		"not JSON":               `{"parts":`,
		"a part number of 0":     completeBody(0, e1),
		"the same part twice":    completeBody(1, e1, 1, e1),
		"a number past MaxParts": completeBody(1, e1, 10001, e1),
	} {
		status, out := g.complete(u, body)
		wantCode(t, name, status, out, 400, "bad_request")
	}
	g.wantHits(tok, 1, "the upload goes on")
	if status, out := g.complete(u, completeBody(1, e1)); status != 200 {
		t.Fatalf("the honest completion: %d %s", status, out)
	}
}

func hostileNotDirect(t *testing.T, g *gateway, in innocent) {
	for name, fields := range map[string]string{
		"sha256":               `"sha256":"` + fmt.Sprintf("%064x", 7) + `"`,
		"a file bucket":        `"bucket":"files"`,
		"an S3 alias left off": `"bucket":"plain"`,
	} {
		tok := g.mint(fields)
		status, out := g.do(http.MethodPost, "/uppy/"+tok+"/s3/multipart", `{"type":"text/plain"}`)
		wantCode(t, name+": create", status, out, 400, "bad_request")
		status, out = g.do(http.MethodGet, "/uppy/"+tok+"/s3/params?type=text/plain", "")
		wantCode(t, name+": params", status, out, 400, "bad_request")
		g.wantHits(tok, 0, name)
		if ep, ok := g.record(tok)["uppy_endpoint"]; ok {
			t.Errorf("%s: uppy_endpoint %v", name, ep)
		}
	}
	get := g.mint(`"method":"GET"`)
	status, out := g.do(http.MethodPost, "/uppy/"+get+"/s3/multipart", `{"type":"text/plain"}`)
	wantCode(t, "a GET token", status, out, 405, "method_not_allowed")
	if _, ok := g.record(get)["uppy_endpoint"]; ok {
		t.Error("a GET token has an uppy_endpoint")
	}
}

func hostileAbort(t *testing.T, g *gateway, in innocent) {
	tok := g.mint(`"size":12582912`)
	u := g.mustCreate(tok, "text/plain")
	g.sendPart(u, 1, []byte("x"))
	if status, out := g.do(http.MethodDelete, u.base()+u.q(), ""); status != 204 {
		t.Fatalf("abort: %d %s", status, out)
	}
	g.wantHits(tok, 0, "after the abort")
	g.wantGone(u)
	status, out := g.do(http.MethodDelete, u.base()+u.q(), "")
	wantCode(t, "a second abort", status, out, 403, "forbidden")
	g.mustCreate(tok, "text/plain")
}

func hostileMalformed(t *testing.T, g *gateway, in innocent) {
	tok := g.mint(`"size":10`)
	for _, body := range []string{`{"type":`, `{"type":"not a type"}`, `[]`} {
		status, out := g.do(http.MethodPost, "/uppy/"+tok+"/s3/multipart", body)
		wantCode(t, "create "+body, status, out, 400, "bad_request")
	}
	g.wantHits(tok, 0, "malformed creates")
}

// wantGone fails unless u's upload is over: nothing stored, no multipart upload open, no
// session left.
func (g *gateway) wantGone(u started) {
	g.t.Helper()
	if _, _, ok := g.object(u.key); ok {
		g.t.Errorf("an object is stored at %s", u.key)
	}
	if n := g.openUploadsOf(u.key); n != 0 {
		g.t.Errorf("multipart uploads of %s left open: %d", u.key, n)
	}
	if _, status, out := g.sign(u, "1"); status != 403 {
		g.t.Errorf("the session is still there: signing answers %d %s", status, out)
	}
}

// concurrentCompletes: eight completions of one upload at once: one completes it, the
// others are told it is busy or gone; one webhook, one hit.
func concurrentCompletes(t *testing.T, g *gateway) {
	tok := g.mint(`"size":12582912`)
	cb := g.record(tok)["callback"].(string)
	u := g.mustCreate(tok, "text/plain")
	data := randomBytes(5 << 20)
	e1 := g.sendPart(u, 1, data)
	e2 := g.sendPart(u, 2, []byte("tail"))
	statuses := make([]int, 8)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { statuses[i], _ = g.complete(u, completeBody(1, e1, 2, e2)) })
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case 200:
			won++
		case 403, 423:
		default:
			t.Errorf("a concurrent completion answered %d", s)
		}
	}
	t.Logf("eight concurrent completions answered %v", statuses)
	if won != 1 {
		t.Errorf("completions that won: %d of %v, want 1", won, statuses)
	}
	if got, _, _ := g.object(u.key); !bytes.Equal(got, append(data, "tail"...)) {
		t.Errorf("object: %d bytes", len(got))
	}
	g.wantHits(tok, 1, "concurrent completions")
	if evs := g.events.To(cb); len(evs) != 1 {
		t.Errorf("webhooks: %d, want 1", len(evs))
	}
}

// tokenRules: the rules of /object hold here too, and a refused client reserves nothing.
func tokenRules(t *testing.T, g *gateway) {
	images := g.mint(`"content_types":["image/*"]`)
	for _, typ := range []string{"image/svg+xml", "text/html", "application/octet-stream"} {
		_, status, out := g.create(images, typ)
		wantCode(t, "type "+typ+" under image/*", status, out, 415, "unsupported_media_type")
	}
	g.wantHits(images, 0, "refused types")
	g.mustCreate(images, "image/png")

	far := g.mint(`"ip":["10.0.0.0/8"]`)
	_, status, out := g.create(far, "text/plain")
	wantCode(t, "a client outside the token's addresses", status, out, 403, "forbidden")
	g.wantHits(far, 0, "a refused address")

	expiring := g.mint(`"expires_in":1`)
	g.clock.Advance(2 * time.Second)
	_, status, out = g.create(expiring, "text/plain")
	wantCode(t, "an expired token", status, out, 410, "token_expired")

	never := g.mint(`"if_none_match":true`)
	key := g.record(never)["key"].(string)
	if _, err := g.raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &g.bucket, Key: &key,
		Body: bytes.NewReader([]byte("first"))}); err != nil {
		t.Fatal(err)
	}
	u := g.mustCreate(never, "text/plain")
	e1 := g.sendPart(u, 1, []byte("second"))
	status, out = g.complete(u, completeBody(1, e1))
	wantCode(t, "if_none_match over an object", status, out, 412, "precondition_failed")
	if got, _, _ := g.object(key); string(got) != "first" {
		t.Errorf("the object in place became %q", got)
	}
	g.wantHits(never, 0, "a refused overwrite")
	if n := g.openUploadsOf(key); n != 0 {
		t.Errorf("%d multipart uploads of %s left open", n, key)
	}

	revoked := g.mint(`"size":10`)
	ru := g.mustCreate(revoked, "text/plain")
	g.do(http.MethodDelete, "/token/"+revoked, "", "Authorization", "Bearer "+controlToken)
	_, status, out = g.sign(ru, "1")
	wantCode(t, "a revoked token", status, out, 404, "token_not_found")
	if _, err := g.janitor.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := g.openUploadsOf(ru.key); n != 0 {
		t.Error("the revoked token's upload is still open after a sweep")
	}
}

// TestUppyConcurrentCompletesRedis: the lock holds across the real store too.
func TestUppyConcurrentCompletesRedis(t *testing.T) {
	concurrentCompletes(t, newGateway(t, gatewayOptions{redis: true}))
}
