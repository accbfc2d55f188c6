package tus_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Hostile inputs: none may cost an innocent user a hit, a byte or a webhook. Each test ends
// with an innocent upload on the same gateway that must complete exactly as usual.

// innocent uploads an object through a fresh token and checks it arrived as usual.
func innocent(t *testing.T, g *gateway, key string) {
	t.Helper()
	before := len(g.hooks.Events())
	data := randomData(partSize+500, 99)
	tok := g.mint(key, "")
	path := g.create(tok, int64(len(data)))
	g.send(path, data, 3<<20, false)
	if got := g.object(key); !bytes.Equal(got, data) || g.usedHits(tok) != 1 || len(g.hooks.Events()) != before+1 {
		t.Fatalf("the innocent upload: %d bytes, used_hits %d, %d new webhooks; want it whole, 1, 1",
			len(got), g.usedHits(tok), len(g.hooks.Events())-before)
	}
}

// TestStrangers: without a token nothing is answered but token_not_found, which the
// brute-force limiter counts like /object's.
func TestStrangers(t *testing.T) {
	g := newGateway(t, "file", setup{rate: 4})
	for i, a := range []answer{
		g.post("tus-test-unknown-token-0001", 10),
		g.patch("/tus/tus-test-unknown-token-0002/AAAAAAAAAAAAAAAAAAAAAA", 0, []byte("x"), 1),
		g.do("DELETE", "/tus/tus-test-unknown-token-0003/AAAAAAAAAAAAAAAAAAAAAA", nil, 0, "Tus-Resumable", "1.0.0"),
		g.do("OPTIONS", "/tus/tus-test-unknown-token-0005", nil, 0), // no preflight: it looks the token up
	} {
		if a.status != 404 || a.code() != "token_not_found" {
			t.Errorf("stranger request %d: %s, want 404 token_not_found", i, a)
		}
	}
	if _, a := g.head("/tus/tus-test-unknown-token-0004/AAAAAAAAAAAAAAAAAAAAAA"); a.status != 429 || a.code() != "too_many_requests" {
		t.Errorf("fifth failure: %s, want 429 (the limiter counted the others)", a)
	}
}

// TestOutsiders: a client outside a token's ip learns nothing of it, not even its
// capabilities, and a creation announcing a type the token refuses is turned away; neither
// costs the token its hit.
func TestOutsiders(t *testing.T) {
	g := newGateway(t, "file", setup{})
	bound := g.mint("out/bound", `,"ip":["10.0.0.0/8"]`)
	for name, a := range map[string]answer{
		"OPTIONS": g.do("OPTIONS", "/tus/"+bound, nil, 0),
		"POST":    g.post(bound, 10),
	} {
		if a.status != 403 || a.hdr.Get("Tus-Max-Size") != "" {
			t.Errorf("%s from outside the token's ip: %s (Tus-Max-Size %q), want 403 and nothing told",
				name, a, a.hdr.Get("Tus-Max-Size"))
		}
	}
	typed := g.mint("out/typed", `,"content_types":["image/png"]`)
	svg := "filetype " + base64.StdEncoding.EncodeToString([]byte("text/html"))
	if a := g.post(typed, 10, "Upload-Metadata", svg); a.status != 415 {
		t.Errorf("creation announcing text/html for an image/png token: %s, want 415", a)
	}
	if g.usedHits(bound) != 0 || g.usedHits(typed) != 0 {
		t.Errorf("used_hits %d and %d after refused creations, want 0 and 0", g.usedHits(bound), g.usedHits(typed))
	}
	innocent(t, g, "out/innocent")
}

// TestAnotherTokensUpload: an upload id is bound to its token; another token's holder can
// neither see, feed nor end it.
func TestAnotherTokensUpload(t *testing.T) {
	g := newGateway(t, "file", setup{})
	owner := g.mint("other/owned", "")
	path := g.create(owner, 2000)
	if a := g.patch(path, 0, randomData(1000, 1), 1000); a.status != 204 {
		t.Fatal(a)
	}
	id := path[strings.LastIndexByte(path, '/')+1:]
	intruder := g.mint("other/intruder", "")
	foreign := "/tus/" + intruder + "/" + id
	for name, a := range map[string]answer{
		"HEAD":   g.do("HEAD", foreign, nil, 0, "Tus-Resumable", "1.0.0"),
		"PATCH":  g.patch(foreign, 1000, randomData(1000, 2), 1000),
		"DELETE": g.do("DELETE", foreign, nil, 0, "Tus-Resumable", "1.0.0"),
	} {
		if a.status != 404 || a.code() != "upload_not_found" {
			t.Errorf("%s of another token's upload: %s, want 404 upload_not_found", name, a)
		}
	}
	if off, _ := g.head(path); off != 1000 || g.usedHits(intruder) != 0 {
		t.Errorf("after the intrusion: owner's offset %d (want 1000), intruder's hits %d (want 0)", off, g.usedHits(intruder))
	}
	innocent(t, g, "other/innocent")
}

// rawPatch sends a PATCH by hand on a new connection: headers (Content-Length: declared, or
// chunked when declared < 0) and then body as it is; close ends the connection after it.
func rawPatch(t *testing.T, g *gateway, path string, offset int64, declared int64, body []byte, close bool) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	length := fmt.Sprintf("Content-Length: %d", declared)
	if declared < 0 {
		length = "Transfer-Encoding: chunked"
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: %d\r\n"+
		"Content-Type: application/offset+octet-stream\r\n%s\r\n\r\n", path, offset, length)
	conn.Write(body)
	if close {
		conn.(*net.TCPConn).CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(status)
}

// waitUnlocked polls until the upload takes requests again (the interrupted PATCH is over).
func waitUnlocked(t *testing.T, g *gateway, path string, offset int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := g.patch(path, offset, nil, 0)
		if a.status == 204 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload still refusing requests 10s after the interrupted PATCH: %s", a)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLyingClients: a Content-Length larger than the body sent (the client then leaves) or
// smaller, a body that drips while others try, and bodies that pass the token's size: the
// upload keeps exactly what was stored whole, and stays usable.
func TestLyingClients(t *testing.T) {
	eachKind(t, setup{}, func(t *testing.T, g *gateway) {
		data := randomData(2*partSize, 3)
		t.Run("Content-Length larger than the body", func(t *testing.T) {
			g.hooks.Reset()
			tok := g.mint("lie/larger", "")
			path := g.create(tok, int64(len(data)))
			rawPatch(t, g, path, 0, int64(len(data)), data[:1<<20], true)
			waitUnlocked(t, g, path, 0)
			if off, _ := g.head(path); off != 0 {
				t.Fatalf("offset after a cut-off part: %d, want 0 (a part is stored whole or not at all)", off)
			}
			g.sendFrom(path, data, 0, partSize)
			checkDone(t, g, tok, "lie/larger", path, data)
		})
		t.Run("Content-Length smaller than the body", func(t *testing.T) {
			g.hooks.Reset()
			tok := g.mint("lie/smaller", "")
			path := g.create(tok, int64(len(data)))
			if status := rawPatch(t, g, path, 0, 1000, data[:2000], false); !strings.Contains(status, "204") {
				t.Fatalf("PATCH of 1000 declared bytes followed by 1000 more: %q", status)
			}
			if off, _ := g.head(path); off != 1000 {
				t.Fatalf("offset: %d, want the 1000 declared bytes", off)
			}
			g.sendFrom(path, data, 1000, partSize)
			checkDone(t, g, tok, "lie/smaller", path, data)
		})
		t.Run("a dripping body", func(t *testing.T) {
			g.hooks.Reset()
			drip := randomData(100, 5)
			tok := g.mint("lie/drip", "")
			path := g.create(tok, int64(len(drip)))
			pr, pw := io.Pipe()
			t.Cleanup(func() { pw.Close() }) // before the server's Close, which waits for it
			done := make(chan answer, 1)
			go func() {
				done <- g.do("PATCH", path, pr, -1, "Tus-Resumable", "1.0.0", "Upload-Offset", "0",
					"Content-Type", "application/offset+octet-stream")
			}()
			pw.Write(drip[:10])
			g.waitLocked(uploadID(path))
			if a := g.patch(path, 0, drip, int64(len(drip))); a.status != 423 || a.code() != "upload_locked" {
				t.Errorf("a PATCH with the whole body while the first drips: %s, want 423", a)
			}
			if off, a := g.head(path); off != 0 {
				t.Errorf("HEAD while a body drips: %d %s, want 200 at 0", off, a)
			}
			if a := g.do("DELETE", path, nil, 0, "Tus-Resumable", "1.0.0"); a.status != 423 {
				t.Errorf("DELETE while a body drips: %s, want 423", a)
			}
			for _, b := range drip[10:] {
				pw.Write([]byte{b})
				time.Sleep(time.Millisecond)
			}
			pw.Close()
			if a := <-done; a.status != 204 {
				t.Fatalf("the dripping PATCH: %s", a)
			}
			checkDone(t, g, tok, "lie/drip", path, drip)
		})
		t.Run("past the token's size mid-body", func(t *testing.T) {
			g.hooks.Reset()
			const size = partSize + 1<<20
			tok := g.mint("lie/cap", fmt.Sprintf(`,"size":%d`, size))
			path := g.create(tok, -1)
			over := randomData(size+1, 6)
			for _, n := range []int64{-1, size + 1} {
				if a := g.patch(path, 0, over, n); a.status != 413 || a.code() != "size_exceeded" {
					t.Errorf("PATCH of %d bytes (%d declared) past a %d-byte token: %s", len(over), n, size, a)
				}
				if off, _ := g.head(path); off != 0 {
					t.Fatalf("offset after a refused PATCH: %d, want 0", off)
				}
			}
			if a := g.patch(path, 0, over[:size], -1, "Upload-Length", fmt.Sprint(size)); a.status != 204 {
				t.Fatalf("PATCH of exactly the token's size: %s", a)
			}
			checkDone(t, g, tok, "lie/cap", path, over[:size])
		})
		innocent(t, g, "lie/innocent")
	})
}

// uploadID is the last segment of an upload's path.
func uploadID(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// sendFrom uploads data[from:] in PATCHes of chunk bytes.
func (g *gateway) sendFrom(path string, data []byte, from, chunk int) {
	g.t.Helper()
	for off := from; off < len(data); off += chunk {
		part := data[off:min(off+chunk, len(data))]
		if a := g.patch(path, int64(off), part, int64(len(part))); a.status != http.StatusNoContent {
			g.t.Fatalf("PATCH at %d: %s", off, a)
		}
	}
}

// TestConcurrentPatches: PATCHes racing for one offset: one stores its bytes, the others get
// 423 (or 409 once the offset moved), and the upload is not corrupted.
func TestConcurrentPatches(t *testing.T) {
	eachKind(t, setup{}, func(t *testing.T, g *gateway) {
		data := randomData(partSize+700, 4)
		tok := g.mint("race/x", "")
		path := g.create(tok, int64(len(data)))
		var wg sync.WaitGroup
		results := make(chan answer, 8)
		for range 8 {
			wg.Go(func() { results <- g.patch(path, 0, data[:partSize], partSize) })
		}
		wg.Wait()
		close(results)
		won := 0
		for a := range results {
			switch {
			case a.status == 204:
				won++
			case a.status == 423 && a.code() == "upload_locked", a.status == 409 && a.code() == "offset_mismatch":
			default:
				t.Errorf("a racing PATCH: %s", a)
			}
		}
		if won != 1 {
			t.Fatalf("%d racing PATCHes stored their bytes, want 1", won)
		}
		g.sendFrom(path, data, partSize, partSize)
		checkDone(t, g, tok, "race/x", path, data)
	})
}

// newReplicas starts two gateways — two replicas — on one redis-server and one bucket.
func newReplicas(t *testing.T, kind string) []*gateway {
	t.Helper()
	srv := testenv.StartRedis(t)
	first := &gateway{t: t, kind: kind}
	first.be = first.openBucket()
	var out []*gateway
	for range 2 {
		g := &gateway{t: t, kind: kind, be: first.be, s3: first.s3, bucket: first.bucket, root: first.root}
		c := token.NewRedisClient(token.ClientOptions{Addr: srv.Addr, Timeout: 5 * time.Second})
		s := token.NewRedisStore(token.RedisOptions{Client: c, KeyPrefix: "tus:", Retention: time.Hour})
		t.Cleanup(func() { s.Close() })
		g.store = watch(s)
		g.start(setup{})
		out = append(out, g)
	}
	return out
}

// TestReplicas: PATCHes alternate between two replicas sharing Redis and the bucket; the
// object is whole, one hit is spent and one webhook sent; a PATCH racing through the other
// replica is refused; the janitors of both end an expired upload once.
func TestReplicas(t *testing.T) {
	testenv.Integration(t)
	gs := newReplicas(t, "minio")
	data := randomData(3*partSize+11, 7)
	tok := gs[0].mint("replicas/x", "")
	path := gs[0].create(tok, int64(len(data)))
	for i, off := 0, 0; off < len(data); i, off = i+1, off+3<<20 {
		part := data[off:min(off+3<<20, len(data))]
		if a := gs[i%2].patch(path, int64(off), part, int64(len(part))); a.status != 204 {
			t.Fatalf("PATCH %d through replica %d: %s", i, i%2, a)
		}
	}
	if got := gs[1].object("replicas/x"); !bytes.Equal(got, data) {
		t.Fatalf("object: %d bytes, want %d", len(got), len(data))
	}
	if n := gs[1].usedHits(tok); n != 1 {
		t.Errorf("used_hits: %d, want 1", n)
	}
	if n := len(gs[0].hooks.Events()) + len(gs[1].hooks.Events()); n != 1 {
		t.Errorf("webhooks from both replicas: %d, want 1", n)
	}
	gs[0].noLeftovers()

	// A body dripping through replica 0 locks the upload for replica 1 too.
	tok = gs[0].mint("replicas/race", "")
	path = gs[0].create(tok, 10)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	done := make(chan answer, 1)
	go func() {
		done <- gs[0].do("PATCH", path, pr, -1, "Tus-Resumable", "1.0.0", "Upload-Offset", "0",
			"Content-Type", "application/offset+octet-stream")
	}()
	pw.Write([]byte("01234"))
	gs[0].waitLocked(uploadID(path))
	if a := gs[1].patch(path, 0, []byte("0123456789"), 10); a.status != 423 {
		t.Errorf("a PATCH through replica 1 while replica 0 writes: %s, want 423", a)
	}
	pw.Write([]byte("56789"))
	pw.Close()
	if a := <-done; a.status != 204 {
		t.Fatalf("the PATCH through replica 0: %s", a)
	}
}
