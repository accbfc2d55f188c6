package tus_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/tus"
)

// checkDone checks a completed upload: the object is data, HEAD says every byte is in, the
// token is marked uploaded with one hit spent, one webhook went out and nothing is left over.
func checkDone(t *testing.T, g *gateway, tok, key, path string, data []byte) {
	t.Helper()
	if got := g.object(key); !bytes.Equal(got, data) {
		t.Fatalf("object %s: %d bytes (sha256 %.12s), want %d (%.12s)", key, len(got), sha256Hex(got), len(data), sha256Hex(data))
	}
	if off, a := g.head(path); off != int64(len(data)) || a.hdr.Get("Upload-Length") != fmt.Sprint(len(data)) {
		t.Errorf("HEAD after completion: offset %d, %s (Upload-Length %q)", off, a, a.hdr.Get("Upload-Length"))
	}
	rec := g.record(tok)
	if rec["uploaded"] != true || rec["used_hits"].(float64) != 1 || rec["object_size"].(float64) != float64(len(data)) {
		t.Errorf("status: uploaded %v, used_hits %v, object_size %v; want true, 1, %d", rec["uploaded"], rec["used_hits"], rec["object_size"], len(data))
	}
	evs := g.hooks.Events()
	if len(evs) != 1 || evs[0].Method != http.MethodPut || evs[0].Status != 200 || evs[0].Size != int64(len(data)) || evs[0].Key != key {
		t.Errorf("webhooks: %+v, want one asset.access PUT 200 of %d bytes", evs, len(data))
	}
	g.noLeftovers()
}

// TestUploadShapes: one object sent in PATCHes of every shape — a part each, less than a
// part (the bytes wait in a temporary object), more than a part, without Content-Length, in
// one request — arrives whole, once.
func TestUploadShapes(t *testing.T) {
	data := randomData(2*partSize+partSize/2+17, 1)
	shapes := []struct {
		name    string
		chunk   int
		chunked bool
	}{
		{"part-sized PATCHes", partSize, false},
		{"PATCHes smaller than a part", 3 << 20, false},
		{"PATCHes larger than a part, chunked", 7 << 20, true},
		{"one PATCH", len(data), false},
	}
	eachKind(t, setup{}, func(t *testing.T, g *gateway) {
		for i, s := range shapes {
			t.Run(s.name, func(t *testing.T) {
				g.hooks.Reset()
				key := fmt.Sprintf("shapes/%d.bin", i)
				tok := g.mint(key, "")
				meta := "filename " + base64.StdEncoding.EncodeToString([]byte("報告.bin")) +
					",filetype " + base64.StdEncoding.EncodeToString([]byte("application/x-test"))
				path := g.create(tok, int64(len(data)), "Upload-Metadata", meta)
				if off, a := g.head(path); off != 0 || a.hdr.Get("Upload-Metadata") != meta || a.hdr.Get("Upload-Expires") == "" {
					t.Fatalf("HEAD of a new upload: %d %s, metadata %q", off, a, a.hdr.Get("Upload-Metadata"))
				}
				g.send(path, data, s.chunk, s.chunked)
				checkDone(t, g, tok, key, path, data)
				info, err := g.be.Head(context.Background(), key, objstore.Conditions{})
				if err != nil || info.ContentType != "application/x-test" {
					t.Errorf("content type: %q (%v), want the metadata's filetype", info.ContentType, err)
				}
			})
		}
	})
}

// TestCreationExtensions: creation-with-upload (all of it, or a first part), deferred length
// (told in the last PATCH, with or without bytes), and an empty upload.
func TestCreationExtensions(t *testing.T) {
	eachKind(t, setup{}, func(t *testing.T, g *gateway) {
		t.Run("with upload, whole", func(t *testing.T) {
			g.hooks.Reset()
			data := randomData(1000, 2)
			tok := g.mint("ext/whole", "")
			a := g.do("POST", "/tus/"+tok, bytes.NewReader(data), int64(len(data)), "Tus-Resumable", "1.0.0",
				"Upload-Length", "1000", "Content-Type", "application/offset+octet-stream")
			if a.status != http.StatusCreated || a.hdr.Get("Upload-Offset") != "1000" {
				t.Fatalf("POST with the data: %s, Upload-Offset %q", a, a.hdr.Get("Upload-Offset"))
			}
			checkDone(t, g, tok, "ext/whole", strings.TrimPrefix(a.hdr.Get("Location"), g.url), data)
		})
		t.Run("with upload, then PATCH", func(t *testing.T) {
			g.hooks.Reset()
			data := randomData(partSize+1000, 3)
			tok := g.mint("ext/first", "")
			a := g.do("POST", "/tus/"+tok, bytes.NewReader(data[:2<<20]), 2<<20, "Tus-Resumable", "1.0.0",
				"Upload-Length", fmt.Sprint(len(data)), "Content-Type", "application/offset+octet-stream")
			if a.status != http.StatusCreated || a.hdr.Get("Upload-Offset") != fmt.Sprint(2<<20) {
				t.Fatalf("POST with 2 MiB: %s, Upload-Offset %q", a, a.hdr.Get("Upload-Offset"))
			}
			path := strings.TrimPrefix(a.hdr.Get("Location"), g.url)
			if b := g.patch(path, 2<<20, data[2<<20:], int64(len(data)-2<<20)); b.status != http.StatusNoContent {
				t.Fatalf("PATCH the rest: %s", b)
			}
			checkDone(t, g, tok, "ext/first", path, data)
		})
		t.Run("deferred length", func(t *testing.T) {
			for _, lastEmpty := range []bool{false, true} {
				g.hooks.Reset()
				data := randomData(partSize+3<<20, 4)
				key := fmt.Sprintf("ext/deferred-%v", lastEmpty)
				tok := g.mint(key, "")
				path := g.create(tok, -1)
				if _, a := g.head(path); a.hdr.Get("Upload-Defer-Length") != "1" || a.hdr.Get("Upload-Length") != "" {
					t.Fatalf("HEAD of a deferred upload: %v", a.hdr)
				}
				half := 4 << 20
				if a := g.patch(path, 0, data[:half], -1); a.status != http.StatusNoContent {
					t.Fatalf("first PATCH: %s", a)
				}
				rest, at := data[half:], int64(half)
				if lastEmpty { // every byte first, then a PATCH that only tells the length
					if a := g.patch(path, at, rest, int64(len(rest))); a.status != http.StatusNoContent {
						t.Fatalf("second PATCH: %s", a)
					}
					rest, at = nil, int64(len(data))
				}
				if a := g.patch(path, at, rest, int64(len(rest)), "Upload-Length", fmt.Sprint(len(data))); a.status != http.StatusNoContent {
					t.Fatalf("last PATCH with Upload-Length: %s", a)
				}
				checkDone(t, g, tok, key, path, data)
			}
		})
		t.Run("empty", func(t *testing.T) {
			g.hooks.Reset()
			tok := g.mint("ext/empty", "")
			path := g.create(tok, 0)
			checkDone(t, g, tok, "ext/empty", path, nil)
		})
	})
}

// TestOptions: capabilities, with Tus-Max-Size the token's size cap.
func TestOptions(t *testing.T) {
	g := newGateway(t, "file", setup{})
	tok := g.mint("opts/x", `,"size":123456`)
	a := g.do("OPTIONS", "/tus/"+tok, nil, 0)
	want := map[string]string{"Tus-Version": "1.0.0", "Tus-Resumable": "1.0.0", "Tus-Max-Size": "123456",
		"Tus-Extension": tus.Extensions, "Tus-Checksum-Algorithm": "md5,sha1,sha256"}
	for k, v := range want {
		if a.hdr.Get(k) != v {
			t.Errorf("OPTIONS %s: %q, want %q", k, a.hdr.Get(k), v)
		}
	}
	if a.status != http.StatusNoContent {
		t.Errorf("OPTIONS: %s", a)
	}
	if b := g.do("OPTIONS", "/tus/tus-test-unknown-token-0001", nil, 0); b.status != 404 || b.code() != "token_not_found" {
		t.Errorf("OPTIONS of an unknown token: %s", b)
	}
	// A CORS preflight from an allowed origin never looks at the token, and allows tus's headers.
	p := g.do("OPTIONS", "/tus/tus-test-unknown-token-0001", nil, 0, "Origin", "https://app.example.com",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "tus-resumable,upload-length,upload-metadata")
	if p.status != http.StatusNoContent || p.hdr.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(p.hdr.Get("Access-Control-Allow-Headers"), "Upload-Metadata") ||
		!strings.Contains(p.hdr.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Errorf("preflight: %s %v", p, p.hdr)
	}
	// Answers expose tus's headers to the page.
	path := g.create(tok, 10, "Origin", "https://app.example.com")
	c := g.do("HEAD", path, nil, 0, "Tus-Resumable", "1.0.0", "Origin", "https://app.example.com")
	for _, name := range []string{"Upload-Offset", "Upload-Length", "Upload-Expires", "Location", "Tus-Resumable"} {
		if !strings.Contains(c.hdr.Get("Access-Control-Expose-Headers"), name) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", c.hdr.Get("Access-Control-Expose-Headers"), name)
		}
	}
}

// TestStatuses: every answer the protocol names, each costing nothing it should not.
func TestStatuses(t *testing.T) {
	g := newGateway(t, "file", setup{})
	data := randomData(3000, 5)
	tok := g.mint("status/x", `,"size":3000`)
	path := g.create(tok, 3000)
	cases := []struct {
		name   string
		do     func() answer
		status int
		code   string
	}{
		{"no Tus-Resumable", func() answer { return g.do("HEAD", path, nil, 0) }, 412, "unsupported_version"},
		{"another version", func() answer { return g.patch(path, 0, data[:10], 10, "Tus-Resumable", "0.2.2") }, 412, "unsupported_version"},
		{"PATCH of another type", func() answer { return g.patch(path, 0, data[:10], 10, "Content-Type", "application/json") }, 415, "unsupported_media_type"},
		{"offset ahead", func() answer { return g.patch(path, 10, data[:10], 10) }, 409, "offset_mismatch"},
		{"no Upload-Offset", func() answer { return g.patch(path, 0, data[:10], 10, "Upload-Offset", "") }, 400, "bad_request"},
		{"past Upload-Length", func() answer { return g.patch(path, 0, make([]byte, 3001), 3001) }, 413, "size_exceeded"},
		{"past Upload-Length, chunked", func() answer { return g.patch(path, 0, make([]byte, 3001), -1) }, 413, "size_exceeded"},
		{"unknown checksum algorithm", func() answer { return g.patch(path, 0, data[:10], 10, "Upload-Checksum", "crc32 AAAAAA==") }, 400, "bad_request"},
		{"wrong sha1", func() answer {
			return g.patch(path, 0, data[:10], 10, "Upload-Checksum", checksum(sha1.New, data[10:20]))
		}, 460, "checksum_mismatch"},
		{"wrong sha256, chunked", func() answer {
			return g.patch(path, 0, data[:10], -1, "Upload-Checksum", checksum(sha256.New, data[10:20]))
		}, 460, "checksum_mismatch"},
		{"unknown upload", func() answer { return g.patch("/tus/"+tok+"/AAAAAAAAAAAAAAAAAAAAAA", 0, data[:10], 10) }, 404, "upload_not_found"},
		{"unknown token", func() answer { return g.patch("/tus/tus-test-unknown-token-0001/x", 0, data[:10], 10) }, 404, "token_not_found"},
		{"GET of an upload", func() answer { return g.do("GET", path, nil, 0, "Tus-Resumable", "1.0.0") }, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		a := c.do()
		if a.status != c.status || c.code != "" && a.code() != c.code || a.hdr.Get("Tus-Resumable") != "1.0.0" {
			t.Errorf("%s: %s (Tus-Resumable %q), want %d %s", c.name, a, a.hdr.Get("Tus-Resumable"), c.status, c.code)
		}
		if off, _ := g.head(path); off != 0 {
			t.Fatalf("after %s the offset is %d, want 0 (nothing kept)", c.name, off)
		}
	}
	if a := g.patch(path, 0, data[:10], 10, "Tus-Resumable", "0.2.2"); a.hdr.Get("Tus-Version") != "1.0.0" {
		t.Errorf("412 without Tus-Version: %v", a.hdr)
	}
	// A matching checksum is kept.
	if a := g.patch(path, 0, data[:1000], 1000, "Upload-Checksum", checksum(sha256.New, data[:1000])); a.status != 204 {
		t.Fatalf("PATCH with its sha256: %s", a)
	}
	if a := g.patch(path, 1000, data[1000:], 2000, "Upload-Checksum", checksum(sha1.New, data[1000:])); a.status != 204 {
		t.Fatalf("PATCH with its sha1: %s", a)
	}
	checkDone(t, g, tok, "status/x", path, data)

	t.Run("creation", func(t *testing.T) {
		capped := g.mint("status/capped", `,"size":100`)
		for _, c := range []struct {
			name   string
			a      answer
			status int
			code   string
		}{
			{"Upload-Length over the token's size", g.post(capped, 101), 413, "size_exceeded"},
			{"no length", g.do("POST", "/tus/"+capped, nil, 0, "Tus-Resumable", "1.0.0"), 400, "bad_request"},
			{"bad metadata", g.post(capped, 1, "Upload-Metadata", "name not-base64!"), 400, "bad_request"},
			{"a GET token", g.post(g.mintMethod("status/get", "GET"), 1), 405, "method_not_allowed"},
			{"unknown token", g.post("tus-test-unknown-token-0001", 1), 404, "token_not_found"},
		} {
			if c.a.status != c.status || c.a.code() != c.code {
				t.Errorf("%s: %s, want %d %s", c.name, c.a, c.status, c.code)
			}
		}
		if n := g.usedHits(capped); n != 0 {
			t.Errorf("used_hits after refused creations: %d, want 0", n)
		}
		g.create(capped, 100)
		if a := g.post(capped, 100); a.status != 409 || a.code() != "hits_exceeded" {
			t.Errorf("a second creation with max_hits 1: %s, want 409 hits_exceeded", a)
		}
	})
}

func checksum(h func() hash.Hash, b []byte) string {
	x := h()
	x.Write(b)
	name := "sha1"
	if len(x.Sum(nil)) == 32 {
		name = "sha256"
	}
	return name + " " + base64.StdEncoding.EncodeToString(x.Sum(nil))
}

// mintMethod mints a token of another method.
func (g *gateway) mintMethod(key, method string) string {
	g.t.Helper()
	body := `{"bucket":"b","key":"` + key + `","method":"` + method + `"}`
	a := g.do("POST", "/token", strings.NewReader(body), int64(len(body)), "Authorization", "Bearer "+control)
	if a.status != http.StatusCreated || strings.Contains(string(a.body), "tus_url") {
		g.t.Fatalf("mint %s: %s (a tus_url only for PUT tokens)", method, a)
	}
	var out struct{ Token string }
	_ = json.Unmarshal(a.body, &out)
	return out.Token
}

// TestTokenConstraints: the token's sha256, if_none_match, content_types and metadata hold
// for the finished object; a refused upload ends with nothing stored and its hit handed back.
func TestTokenConstraints(t *testing.T) {
	eachKind(t, setup{}, func(t *testing.T, g *gateway) {
		data := randomData(partSize+100, 6)
		refused := func(t *testing.T, tok, key, path string, a answer, status int, code string) {
			t.Helper()
			if a.status != status || a.code() != code {
				t.Fatalf("got %s, want %d %s", a, status, code)
			}
			if _, h := g.head(path); h.status != 404 {
				t.Errorf("HEAD after the refusal: %s, want 404 (the upload ended)", h)
			}
			if n := g.usedHits(tok); n != 0 {
				t.Errorf("used_hits: %d, want 0 (handed back)", n)
			}
			if len(g.hooks.Events()) != 0 {
				t.Errorf("webhooks for a refused upload: %+v", g.hooks.Events())
			}
			g.noLeftovers()
		}
		t.Run("sha256 mismatch", func(t *testing.T) {
			g.hooks.Reset()
			tok := g.mint("c/sha", `,"sha256":"`+sha256Hex([]byte("other"))+`"`)
			path := g.create(tok, int64(len(data)))
			if a := g.patch(path, 0, data[:partSize], partSize); a.status != 204 {
				t.Fatal(a)
			}
			a := g.patch(path, partSize, data[partSize:], 100)
			refused(t, tok, "c/sha", path, a, 400, "checksum_mismatch")
			if g.object("c/sha") != nil {
				t.Error("the object was kept")
			}
		})
		t.Run("sha256 match", func(t *testing.T) {
			g.hooks.Reset()
			tok := g.mint("c/sha-ok", `,"sha256":"`+sha256Hex(data)+`"`)
			path := g.create(tok, int64(len(data)))
			g.send(path, data, 3<<20, false) // the digest travels between requests
			checkDone(t, g, tok, "c/sha-ok", path, data)
		})
		t.Run("if_none_match", func(t *testing.T) {
			g.hooks.Reset()
			old := []byte("already here")
			if _, err := g.be.Put(context.Background(), objstore.PutInput{Key: "c/inm", Body: bytes.NewReader(old), Size: int64(len(old))}); err != nil {
				t.Fatal(err)
			}
			tok := g.mint("c/inm", `,"if_none_match":true`)
			path := g.create(tok, 100)
			refused(t, tok, "c/inm", path, g.patch(path, 0, data[:100], 100), 412, "precondition_failed")
			if got := g.object("c/inm"); !bytes.Equal(got, old) {
				t.Errorf("the object in place changed")
			}
		})
		t.Run("content type from metadata", func(t *testing.T) {
			tok := g.mint("c/type", `,"content_types":["image/*"]`)
			a := g.post(tok, 10, "Upload-Metadata", "filetype "+base64.StdEncoding.EncodeToString([]byte("text/html")))
			if a.status != 415 || a.code() != "unsupported_media_type" || g.usedHits(tok) != 0 {
				t.Errorf("creation with a type the token refuses: %s, used_hits %d", a, g.usedHits(tok))
			}
		})
		t.Run("content type sniffed", func(t *testing.T) {
			g.hooks.Reset()
			png := append([]byte("\x89PNG\r\n\x1a\n"), randomData(2000, 7)...)
			tok := g.mint("c/sniff.png", `,"content_types":["image/png"]`)
			path := g.create(tok, int64(len(png)))
			g.send(path, png, 1000, false)
			checkDone(t, g, tok, "c/sniff.png", path, png)
			if info, _ := g.be.Head(context.Background(), "c/sniff.png", objstore.Conditions{}); info.ContentType != "image/png" {
				t.Errorf("sniffed content type %q, want image/png", info.ContentType)
			}
			g.hooks.Reset()
			other := g.mint("c/sniff-refused", `,"content_types":["image/png"]`)
			path = g.create(other, 100)
			refused(t, other, "c/sniff-refused", path, g.patch(path, 0, []byte(strings.Repeat("plain text ", 10)[:100]), 100),
				415, "unsupported_media_type")
		})
		t.Run("metadata", func(t *testing.T) {
			if g.s3 == nil {
				t.Skip("user metadata is read back through S3")
			}
			g.hooks.Reset()
			tok := g.mint("c/meta", `,"metadata":{"owner":"user-42"}`)
			path := g.create(tok, int64(len(data)))
			g.send(path, data, partSize, false)
			out, err := g.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &g.bucket, Key: strPtr("c/meta")})
			if err != nil || out.Metadata["owner"] != "user-42" {
				t.Errorf("object metadata: %v (%v), want owner=user-42", out, err)
			}
		})
	})
}

func strPtr(s string) *string { return &s }

// TestEndings: termination, revocation and expiry end an upload: nothing is left in the
// bucket, and the hit comes back unless the token is gone.
func TestEndings(t *testing.T) {
	eachKind(t, setup{uploadTTL: 2 * time.Second}, func(t *testing.T, g *gateway) {
		data := randomData(partSize+3000, 8)
		start := func(key string) (string, string) {
			tok := g.mint(key, "")
			path := g.create(tok, int64(len(data)))
			g.send(path, data[:partSize+1000], partSize, false) // one part and pending bytes
			if len(g.leftovers()) == 0 {
				t.Fatal("nothing in the bucket after two PATCHes")
			}
			return tok, path
		}
		t.Run("termination", func(t *testing.T) {
			tok, path := start("end/terminated")
			if a := g.do("DELETE", path, nil, 0, "Tus-Resumable", "1.0.0"); a.status != 204 {
				t.Fatalf("DELETE: %s", a)
			}
			if _, a := g.head(path); a.status != 404 || a.code() != "upload_not_found" {
				t.Errorf("HEAD after termination: %s", a)
			}
			if a := g.patch(path, partSize+1000, data[partSize+1000:], 2000); a.status != 404 {
				t.Errorf("PATCH after termination: %s", a)
			}
			if g.usedHits(tok) != 0 {
				t.Errorf("used_hits after termination: %d, want 0", g.usedHits(tok))
			}
			g.noLeftovers()
		})
		t.Run("revocation", func(t *testing.T) {
			tok, path := start("end/revoked")
			if a := g.do("DELETE", "/token/"+tok, nil, 0, "Authorization", "Bearer "+control); a.status != 204 {
				t.Fatal(a)
			}
			if a := g.patch(path, partSize+1000, data[partSize+1000:], 2000); a.status != 404 || a.code() != "token_not_found" {
				t.Errorf("PATCH after revocation: %s", a)
			}
			if n, err := g.janitor.Sweep(context.Background()); n != 1 || err != nil {
				t.Errorf("Sweep after revocation: %d, %v; want the upload ended at once", n, err)
			}
			g.noLeftovers()
		})
		t.Run("expiry", func(t *testing.T) {
			tok, path := start("end/expired")
			deadline := time.Now().Add(5 * time.Second)
			for {
				if _, a := g.head(path); a.status == 410 && a.code() == "upload_expired" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the upload did not expire within 5s of a 2s TTL")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if a := g.patch(path, partSize+1000, data[partSize+1000:], 2000); a.status != 410 {
				t.Errorf("PATCH after expiry: %s", a)
			}
			if n, err := g.janitor.Sweep(context.Background()); n != 1 || err != nil {
				t.Errorf("Sweep: %d, %v; want the expired upload", n, err)
			}
			if _, a := g.head(path); a.status != 404 {
				t.Errorf("HEAD after the janitor: %s", a)
			}
			if g.usedHits(tok) != 0 {
				t.Errorf("used_hits after expiry: %d, want 0", g.usedHits(tok))
			}
			g.noLeftovers()
		})
	})
}

// TestChunkedWithinBudget: PATCHes without Content-Length buffer one part each from the
// process's upload budget; with a budget of one part, three at once take turns and all
// complete.
func TestChunkedWithinBudget(t *testing.T) {
	g := newGateway(t, "file", setup{budget: partSize})
	data := randomData(2*partSize+10, 9)
	var paths []string
	for i := range 3 {
		tok := g.mint(fmt.Sprintf("budget/%d", i), "")
		paths = append(paths, g.create(tok, int64(len(data))))
	}
	results := make(chan answer, 3)
	for _, p := range paths {
		go func() { results <- g.patch(p, 0, data, -1) }()
	}
	for range paths {
		if a := <-results; a.status != 204 {
			t.Errorf("chunked PATCH: %s", a)
		}
	}
	for i := range paths {
		if got := g.object(fmt.Sprintf("budget/%d", i)); !bytes.Equal(got, data) {
			t.Errorf("object %d: %d bytes", i, len(got))
		}
	}
}
