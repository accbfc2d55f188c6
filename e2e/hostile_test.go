package e2e

// Hostile input: slow headers, oversized bodies and headers, malformed fields, and a hunt for
// secrets in the logs and in Redis.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// TestSlowloris: 500 connections drip header bytes, one every 200 ms. ReadHeaderTimeout (2 s
// here) closes each of them, while a normal client's downloads keep succeeding.
func TestSlowloris(t *testing.T) {
	env := newEnv(t, false)
	env.putDirect(t, "slow/obj", []byte("payload"))
	const headerTimeout = 2 * time.Second
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		section(cfg, "server")["read_header_timeout"] = headerTimeout.String()
		// All 500 come from 127.0.0.1: no per-client cap here (TestConnectionFlood has it).
		section(cfg, "server")["max_conns_per_client"] = 0
	}))
	c := client{t, gw.URL}
	tok := c.mint(`{"bucket":"assets","key":"slow/obj","method":"GET"}`)
	addr := endpointHost(t, gw.URL)

	const conns = 500
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		lifetime []time.Duration
		dialErrs int
	)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				mu.Lock()
				dialErrs++
				mu.Unlock()
				return
			}
			defer conn.Close()
			opened := time.Now()
			_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: gw\r\n")
			// Drip one byte every 200 ms; a read that ends (EOF, reset, or a 408 answer
			// followed by EOF) means the server closed the connection. Give up after 10 s.
			buf := make([]byte, 512)
			for time.Since(opened) < 10*time.Second {
				if _, err := conn.Write([]byte("X")); err != nil {
					break
				}
				_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				_, err := conn.Read(buf)
				var ne net.Error
				if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
					break
				}
			}
			mu.Lock()
			lifetime = append(lifetime, time.Since(opened))
			mu.Unlock()
		}()
	}

	// Meanwhile a normal client, on fresh connections, downloads every 50 ms until the slow
	// connections are gone (at most 400 times).
	var ok, failed int
	var slowest time.Duration
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	hc := plainClient(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
normal:
	for range 400 {
		o := try(hc, "GET", gw.URL+"/object/"+tok, nil)
		if o.status == 200 && string(o.body) == "payload" {
			ok++
		} else {
			failed++
			t.Errorf("normal client during the slowloris: %s", o)
		}
		slowest = max(slowest, o.took)
		select {
		case <-done:
			break normal
		case <-tick.C:
		}
	}
	<-done

	if dialErrs > 0 {
		t.Errorf("%d of %d slow connections could not even connect", dialErrs, conns)
	}
	var longest, shortest time.Duration
	shortest = time.Hour
	for _, d := range lifetime {
		longest, shortest = max(longest, d), min(shortest, d)
	}
	if longest > headerTimeout+2*time.Second {
		t.Errorf("a slow connection lived %s, want it closed within read_header_timeout (%s) + 2s", longest, headerTimeout)
	}
	if shortest < headerTimeout-500*time.Millisecond {
		t.Errorf("a slow connection was closed after %s, before read_header_timeout (%s)", shortest, headerTimeout)
	}
	if ok == 0 {
		t.Error("the normal client got nothing through")
	}
	t.Logf("%d slow connections closed after %s–%s (read_header_timeout %s); normal client: %d OK, %d failed, slowest %s",
		len(lifetime), shortest.Round(time.Millisecond), longest.Round(time.Millisecond), headerTimeout,
		ok, failed, slowest.Round(time.Millisecond))
}

// TestSizeCaps: control bodies past server.max_control_body answer 413 request_too_large
// (declared or chunked), request headers past server.max_header_bytes answer 431, and a body
// at the cap is accepted.
func TestSizeCaps(t *testing.T) {
	env := newEnv(t, false)
	env.putDirect(t, "caps/obj", []byte("payload"))
	const bodyCap = 4096
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		section(cfg, "server")["max_control_body"] = "4KiB"
		section(cfg, "server")["max_header_bytes"] = "8KiB"
	}))
	c := client{t, gw.URL}
	auth := []string{"Authorization", "Bearer " + controlToken}
	tok := c.mint(`{"bucket":"assets","key":"caps/obj","method":"GET"}`)

	// A valid body padded with JSON whitespace to exactly n bytes.
	padded := func(n int) string {
		b := `{"bucket":"assets","key":"caps/obj","method":"GET"}`
		return b[:len(b)-1] + strings.Repeat(" ", n-len(b)) + "}"
	}
	hc := plainClient(10 * time.Second)
	if o := try(hc, "POST", gw.URL+"/token", strings.NewReader(padded(bodyCap)), auth...); o.status != 201 {
		t.Errorf("body of exactly max_control_body: got %s, want 201", o)
	}
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"one byte over, declared", strings.NewReader(padded(bodyCap + 1))},
		{"one byte over, chunked", io.MultiReader(strings.NewReader(padded(bodyCap + 1)))},
		{"10 MiB, chunked", io.MultiReader(strings.NewReader(`{"bucket":"`), bytes.NewReader(bytes.Repeat([]byte("a"), 10<<20)))},
	} {
		o := try(hc, "POST", gw.URL+"/token", tc.body, auth...)
		if o.status != 413 || o.code != "request_too_large" {
			t.Errorf("%s: got %s, want 413 request_too_large", tc.name, o)
		}
	}

	// Go's server allows max_header_bytes plus 4096 bytes of slack before it answers 431.
	for _, tc := range []struct {
		name   string
		path   string
		header func(*http.Request)
		want   int
	}{
		{"6 KiB header on /object", "/object/" + tok, func(r *http.Request) { r.Header.Set("X-Big", strings.Repeat("a", 6<<10)) }, 200},
		{"64 KiB header on /object", "/object/" + tok, func(r *http.Request) { r.Header.Set("X-Big", strings.Repeat("a", 64<<10)) }, 431},
		{"64 KiB header on /token", "/token/" + tok, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+controlToken)
			r.Header.Set("X-Big", strings.Repeat("a", 64<<10))
		}, 431},
		{"1000 small headers", "/healthz", func(r *http.Request) {
			for i := range 1000 {
				r.Header.Set(fmt.Sprintf("X-H%d", i), "0123456789")
			}
		}, 431},
		{"64 KiB URL", "/object/" + strings.Repeat("a", 64<<10), func(*http.Request) {}, 431},
	} {
		req, _ := http.NewRequest("GET", gw.URL+tc.path, nil)
		tc.header(req)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

// TestFieldValidation: keys, filenames, custom tokens and callback URLs with control
// characters, over their length limits or not valid UTF-8 answer 400 bad_request naming the
// field; the values at the limits pass.
func TestFieldValidation(t *testing.T) {
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(nil))
	auth := []string{"Authorization", "Bearer " + controlToken}
	hc := plainClient(10 * time.Second)
	// body builds a request from raw JSON fragments: a value may hold bytes that are not UTF-8.
	body := func(fields ...string) string {
		base := map[string]string{"bucket": `"assets"`, "key": `"ok/key"`, "method": `"GET"`}
		for i := 0; i+1 < len(fields); i += 2 {
			base[fields[i]] = fields[i+1]
		}
		parts := make([]string, 0, len(base))
		for k, v := range base {
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	quoted := func(s string) string { return `"` + s + `"` }
	cases := []struct {
		name  string
		body  string
		field string // "" means accepted (201)
	}{
		{"key at 1024 bytes", body("key", quoted(strings.Repeat("k", 1024))), ""},
		{"key over 1024 bytes", body("key", quoted(strings.Repeat("k", 1025))), "key"},
		{"key with NUL", body("key", quoted(`a\u0000b`)), "key"},
		{"key with newline", body("key", quoted(`a\nb`)), "key"},
		{"key with DEL", body("key", quoted("a\x7fb")), "key"},
		{"key with C1 control", body("key", quoted(`a\u0085b`)), "key"},
		{"key with invalid UTF-8", body("key", quoted("a\xffb")), "key"},
		{"key with a lone surrogate", body("key", quoted(`a\ud800b`)), "key"},
		{"key empty", body("key", `""`), "key"},
		{"filename at 512 bytes", body("filename", quoted(strings.Repeat("f", 512))), ""},
		{"filename over 512 bytes", body("filename", quoted(strings.Repeat("f", 513))), "filename"},
		{"filename with CRLF", body("filename", quoted(`a\r\nSet-Cookie: x=1`)), "filename"},
		{"filename with tab", body("filename", quoted(`a\tb`)), "filename"},
		{"filename with invalid UTF-8", body("filename", quoted("\xc3\x28.pdf")), "filename"},
		{"filename with quotes and backslash", body("filename", quoted(`a\"b\\c.pdf`)), ""},
		{"token at 16 characters", body("token", quoted("abcdefghij-_0123")), ""},
		{"token at 128 characters", body("token", quoted(strings.Repeat("T", 128))), ""},
		{"token of 15 characters", body("token", quoted("abcdefghij-_012")), "token"},
		{"token of 129 characters", body("token", quoted(strings.Repeat("U", 129))), "token"},
		{"token with a space", body("token", quoted("abcdefghij 0123456")), "token"},
		{"token with a control character", body("token", quoted(`abcdefghij\u00010123456`)), "token"},
		{"token with non-ASCII", body("token", quoted("abcdefghijü0123456")), "token"},
		{"token with invalid UTF-8", body("token", quoted("abcdefghij\xff0123456")), "token"},
		{"callback at 2048 bytes", body("callback", quoted("https://example.com/"+strings.Repeat("c", 2048-20))), ""},
		{"callback over 2048 bytes", body("callback", quoted("https://example.com/"+strings.Repeat("c", 2049-20))), "callback"},
		{"callback with NUL", body("callback", quoted(`https://example.com/\u0000`)), "callback"},
		{"callback with newline", body("callback", quoted(`https://example.com/a\nb`)), "callback"},
		{"callback with space", body("callback", quoted(`https://example.com/a b`)), "callback"},
		{"callback with invalid UTF-8", body("callback", quoted("https://example.com/\xff")), "callback"},
		{"callback with user info", body("callback", quoted("https://user:pass@example.com/")), "callback"},
		{"callback not http", body("callback", quoted("ftp://example.com/")), "callback"},
		{"callback relative", body("callback", quoted("/hook")), "callback"},
	}
	for _, tc := range cases {
		o := try(hc, "POST", gw.URL+"/token", strings.NewReader(tc.body), auth...)
		if tc.field == "" {
			if o.status != 201 {
				t.Errorf("%s: got %s, want 201", tc.name, o)
			}
			continue
		}
		if o.status != 400 || o.code != "bad_request" || !strings.Contains(string(o.body), tc.field+":") {
			t.Errorf("%s: got %s, want 400 bad_request naming %q", tc.name, o, tc.field)
		}
	}
	// Every problem at once, each with its field.
	o := try(hc, "POST", gw.URL+"/token", strings.NewReader(body("key", `"a\u0001"`, "filename", `"b\u0002"`,
		"token", `"short"`, "callback", `"ftp://x/"`)), auth...)
	for _, f := range []string{"key:", "filename:", "token:", "callback:"} {
		if o.status != 400 || !strings.Contains(string(o.body), f) {
			t.Errorf("several bad fields: got %s, want 400 naming %s", o, f)
		}
	}
}

// TestNoSecretsInLogsOrRedis runs a representative session — uploads and downloads with
// random and custom tokens, ranges, HEAD, status, deletion, webhooks, an S3 signature failure,
// refused control tokens, unknown tokens — with the gateway's log captured, then checks that
// no token, control token, rejected control-token attempt, S3 key, Redis password or webhook
// secret appears in the log, and that Redis holds no raw token in any key or any value of any
// type (hashes, strings, lists, sets, sorted sets, streams).
func TestNoSecretsInLogsOrRedis(t *testing.T) {
	env := newEnv(t, false)
	const redisPassword = "redis-password-3c7d0e4b9f"
	rdb := testenv.StartRedis(t, "--requirepass", redisPassword)
	// A receiver that never answers in time: events wait in the stream behind the one being
	// tried (one worker), then in the retry set, then among the dead letters — so the scan
	// below sees every place an event can be.
	var attempts atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		_, _ = io.Copy(io.Discard, r.Body) // then the server notices when the gateway gives up
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer hang.Close()
	wrongSecret := env.S3.SecretKey + "-wrong"
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		section(cfg, "redis")["addr"] = rdb.Addr
		section(cfg, "redis")["password"] = redisPassword
		withWebhooks("100ms")(cfg)
		section(cfg, "callback")["workers"] = 1
		section(cfg, "callback")["timeout"] = "300ms"
		section(cfg, "credentials")["bad"] = map[string]any{"access_key": env.S3.AccessKey, "secret_key": wrongSecret}
		buckets := section(cfg, "buckets")
		bad := map[string]any{}
		for k, v := range buckets["assets"].(map[string]any) {
			bad[k] = v
		}
		bad["credential"] = "bad"
		buckets["badsig"] = bad
	}))
	c := client{t, gw.URL}
	auth := []string{"Authorization", "Bearer " + controlToken}
	hook := hang.URL + "/hook"
	var tokens []string
	mint := func(fields string) string {
		tok := c.mint(fields)
		tokens = append(tokens, tok)
		return tok
	}

	content := randomBytes(6 << 20)
	put := mint(fmt.Sprintf(`{"bucket":"assets","key":"secret/a.bin","method":"PUT","callback":%q}`, hook))
	if resp, b := c.do("PUT", "/object/"+put, bytes.NewReader(content)); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	custom := "custom-secret-token-" + fmt.Sprint(time.Now().UnixNano())
	tokens = append(tokens, custom)
	c.mint(fmt.Sprintf(`{"token":%q,"bucket":"assets","key":"secret/a.bin","method":"GET","max_hits":3,"filename":"a.bin","callback":%q}`, custom, hook))
	get := mint(fmt.Sprintf(`{"bucket":"assets","key":"secret/a.bin","method":"GET","callback":%q}`, hook))
	for _, tk := range []string{custom, get} {
		if resp, b := c.do("GET", "/object/"+tk, nil); resp.StatusCode != 200 || len(b) != len(content) {
			t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(b))
		}
		c.do("GET", "/object/"+tk, nil, "Range", "bytes=0-99")
		c.do("HEAD", "/object/"+tk, nil)
		c.record(tk, "/status")
	}
	chunked := mint(`{"bucket":"assets","key":"secret/b.bin","method":"PUT"}`)
	c.do("PUT", "/object/"+chunked, io.MultiReader(bytes.NewReader(content)))
	exhausted := mint(`{"bucket":"assets","key":"secret/a.bin","method":"GET","max_hits":1}`)
	c.do("GET", "/object/"+exhausted, nil)
	c.do("GET", "/object/"+exhausted, nil) // 409
	missing := mint(`{"bucket":"assets","key":"secret/none","method":"GET"}`)
	c.do("GET", "/object/"+missing, nil) // 404 object_not_found
	badsig := mint(`{"bucket":"badsig","key":"secret/a.bin","method":"GET"}`)
	if resp, _ := c.do("GET", "/object/"+badsig, nil); resp.StatusCode != 502 {
		t.Fatalf("GET with a wrong S3 secret: got %d, want 502", resp.StatusCode)
	}
	c.do("PUT", "/object/"+mint(`{"bucket":"badsig","key":"secret/c.bin","method":"PUT"}`), strings.NewReader("x"))
	deleted := mint(`{"bucket":"assets","key":"secret/a.bin","method":"GET"}`)
	c.do("DELETE", "/token/"+deleted, nil, auth...)
	c.do("GET", "/object/"+deleted, nil)
	c.do("GET", "/token/"+deleted, nil, auth...)
	unknown := "never-minted-token-0123456789"
	tokens = append(tokens, unknown)
	c.do("GET", "/object/"+unknown, nil)
	c.do("GET", "/object/"+unknown+"/extra", nil)
	c.do("GET", "/token/"+unknown+"?t="+unknown, nil, auth...)
	rejected := "rejected-control-token-attempt-42"
	c.do("POST", "/token", strings.NewReader(`{}`), "Authorization", "Bearer "+rejected)
	c.do("GET", "/token/"+get, nil, "Authorization", "Basic "+rejected)
	c.do("GET", "/callbacks/failed", nil, auth...)
	c.do("POST", "/token", strings.NewReader(fmt.Sprintf(`{"token":%q,"bucket":"assets","key":"x","method":"GET"}`, custom)), auth...) // 409

	secrets := append([]string{controlToken, rejected, env.S3.AccessKey, env.S3.SecretKey, wrongSecret, redisPassword, webhookSecret}, tokens...)
	r := redis.NewClient(&redis.Options{Addr: rdb.Addr, Password: redisPassword})
	defer r.Close()
	ctx := context.Background()
	// Scan while events wait in the stream, and again once one has been dead-lettered.
	var first redisScan
	if !pollUntil(10*time.Second, func() bool { first = scanRedis(t, r, secrets); return first.streamEntries > 0 }) {
		t.Fatal("no scan saw a webhook event waiting in the stream")
	}
	if !pollUntil(20*time.Second, func() bool { return r.HLen(ctx, "ag:{cb}:dead:data").Val() > 0 }) {
		t.Fatal("no webhook event dead-lettered within 20s")
	}
	if resp, b := c.do("GET", "/callbacks/failed", nil, auth...); resp.StatusCode != 200 {
		t.Fatalf("GET /callbacks/failed: %d %s", resp.StatusCode, b)
	}
	second := scanRedis(t, r, secrets)
	gw.Stop(t) // the log is complete once the process has exited
	assertNoSecrets(t, gw, secrets...)

	records, events := max(first.records, second.records), first.events+second.events
	if records < len(tokens)-3 || first.streamEntries == 0 || events == 0 {
		t.Errorf("the scans saw %d token records, %d stream entries and %d queued events: not what the gateway stored",
			records, first.streamEntries, events)
	}
	t.Logf("log: %d bytes, none of %d secrets in it; Redis: %d and %d keys scanned (%d token records, %d stream entries, "+
		"%d queued or dead events, %d webhook attempts), no raw token", len(gw.Log()), len(secrets),
		first.keys, second.keys, records, first.streamEntries, events, attempts.Load())
}

// redisScan counts what scanRedis saw.
type redisScan struct {
	keys, records, streamEntries, events int
}

// scanRedis reads every key and every value of every type and fails t if any holds a secret.
func scanRedis(t *testing.T, r *redis.Client, secrets []string) redisScan {
	t.Helper()
	ctx := context.Background()
	var out redisScan
	var cursor uint64
	for range 10000 {
		keys, next, err := r.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			out.keys++
			values := []string{k}
			typ, err := r.Type(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			switch typ {
			case "string":
				v, _ := r.Get(ctx, k).Result()
				values = append(values, v)
			case "hash":
				m, _ := r.HGetAll(ctx, k).Result()
				for f, v := range m {
					values = append(values, f, v)
				}
				if !strings.Contains(k, "{cb}") { // a token record (callback keys carry {cb})
					out.records++
				}
				if strings.HasSuffix(k, ":dead:data") {
					out.events += len(m)
				}
			case "list":
				l, _ := r.LRange(ctx, k, 0, -1).Result()
				values = append(values, l...)
			case "set":
				l, _ := r.SMembers(ctx, k).Result()
				values = append(values, l...)
			case "zset":
				zs, _ := r.ZRangeWithScores(ctx, k, 0, -1).Result()
				for _, z := range zs {
					values = append(values, fmt.Sprint(z.Member))
				}
				if strings.HasSuffix(k, ":retry") {
					out.events += len(zs)
				}
			case "stream":
				xs, _ := r.XRange(ctx, k, "-", "+").Result()
				for _, x := range xs {
					out.streamEntries++
					for f, v := range x.Values {
						values = append(values, f, fmt.Sprint(v))
					}
				}
				groups, _ := r.XInfoGroups(ctx, k).Result()
				for _, g := range groups {
					values = append(values, g.Name)
				}
			default:
				t.Errorf("key %q has type %s, which this test cannot read", k, typ)
			}
			for _, v := range values {
				for _, s := range secrets {
					if strings.Contains(v, s) {
						t.Errorf("Redis key %q (%s) holds a secret (%d characters, starting %.4s…)", k, typ, len(s), s)
					}
				}
			}
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	return out
}
