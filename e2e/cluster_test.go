package e2e

// Redis Cluster: the real binary, two processes, on a 3-master cluster and MinIO — uploads
// and downloads, exact hits on a token of each master, webhooks, status, revocation.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
)

// clusterEnv is an Env (its MinIO bucket) whose gateways keep tokens, counters and the webhook
// queue in a 3-master Redis Cluster. The Env's own redis-server is left unused.
type clusterEnv struct {
	*Env
	Cluster *testenv.RedisCluster
}

func newClusterEnv(t *testing.T) *clusterEnv {
	t.Helper()
	return &clusterEnv{Env: newEnv(t, false), Cluster: testenv.StartRedisCluster(t)}
}

// Config is Env.Config with a redis section that names only the cluster's seeds (no addr),
// then edit applied.
func (e *clusterEnv) Config(seeds []string, edit func(cfg map[string]any)) string {
	return e.Env.Config(func(cfg map[string]any) {
		cfg["redis"] = map[string]any{"cluster": map[string]any{"addrs": seeds}}
		if edit != nil {
			edit(cfg)
		}
	})
}

// master returns the index (in e.Cluster.Addrs) of the master serving tok's hash slot: every
// key of a token carries the {ID} hash tag.
func (e *clusterEnv) master(t *testing.T, tok string) int {
	t.Helper()
	n, err := e.Cluster.Owner("{" + token.ID(tok) + "}")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestClusterGateway runs two gateway processes on one cluster: the first knows a single seed
// node (it discovers the other masters), the second all three.
func TestClusterGateway(t *testing.T) {
	env := newClusterEnv(t)
	rc := newReceiver(t)
	webhooks := withWebhooks("100ms", "200ms")
	hooks := func(cfg map[string]any) {
		webhooks(cfg)
		// The exact-hits run opens 300 connections per gateway, all from 127.0.0.1.
		section(cfg, "server")["max_conns_per_client"] = 0
	}
	gws := []*Gateway{
		startGateway(t, env.Config(env.Cluster.Addrs[:1], hooks)),
		startGateway(t, env.Config(env.Cluster.Addrs, hooks)),
	}
	defer func() {
		for _, gw := range gws {
			assertNoSecrets(t, gw, controlToken, env.S3.SecretKey)
		}
	}()

	t.Run("Readyz", func(t *testing.T) {
		for _, gw := range gws {
			resp, body := client{t, gw.URL}.do("GET", "/readyz", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("/readyz on %s: got %d %s", gw.URL, resp.StatusCode, body)
			}
		}
	})

	// The seed's flows: upload through a PUT token (with and without a length, and a chunked
	// multipart upload), its status, downloads through a GET token with a filename and a
	// range, until max_hits; each minted on one gateway and used through the other.
	t.Run("SeedFlows", func(t *testing.T) {
		cases := []struct {
			name    string
			size    int
			chunked bool
		}{
			{"small with length", 1000, false},
			{"small chunked", 1000, true},
			{"12MiB chunked (multipart)", 12 << 20, true},
			{"empty", 0, false},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				mintOn, useOn := client{t, gws[i%2].URL}, client{t, gws[(i+1)%2].URL}
				content := randomBytes(tc.size)
				key := fmt.Sprintf("cluster/%d/報告 %d.bin", i, tc.size)
				put := mintOn.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"PUT","size":%d}`, key, tc.size))
				var body io.Reader = bytes.NewReader(content)
				if tc.chunked {
					body = io.MultiReader(bytes.NewReader(content))
				}
				resp, out := useOn.do("PUT", "/object/"+put, body, "Content-Type", "application/x-test")
				if resp.StatusCode != 200 {
					t.Fatalf("PUT: got %d %s", resp.StatusCode, out)
				}
				var up struct {
					ETag string
					Size int64
				}
				_ = jsonUnmarshal(out, &up)
				st := mintOn.record(put, "/status")
				if st["uploaded"] != true || st["object_exists"] != true || st["object_size"] != float64(tc.size) ||
					st["etag"] != up.ETag || st["used_hits"] != 1.0 {
					t.Fatalf("status: got %v", st)
				}
				resp, out = useOn.do("PUT", "/object/"+put, strings.NewReader(""))
				wantCode(t, "second PUT", resp, out, 409, "hits_exceeded")

				get := mintOn.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"GET","filename":"報告 final.bin","max_hits":2}`, key))
				resp, got := useOn.do("GET", "/object/"+get, nil)
				if resp.StatusCode != 200 || !bytes.Equal(got, content) || resp.Header.Get("ETag") != `"`+up.ETag+`"` {
					t.Fatalf("GET: got %d, %d bytes, ETag %q; want 200, %d bytes, %q",
						resp.StatusCode, len(got), resp.Header.Get("ETag"), len(content), up.ETag)
				}
				if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err != nil || params["filename"] != "報告 final.bin" {
					t.Fatalf("Content-Disposition %q: %v", resp.Header.Get("Content-Disposition"), err)
				}
				if tc.size > 10 {
					resp, got = mintOn.do("GET", "/object/"+get, nil, "Range", "bytes=5-9")
					if resp.StatusCode != 206 || !bytes.Equal(got, content[5:10]) {
						t.Fatalf("range: got %d %q", resp.StatusCode, got)
					}
				} else {
					mintOn.do("GET", "/object/"+get, nil)
				}
				resp, got = useOn.do("GET", "/object/"+get, nil)
				wantCode(t, "third GET", resp, got, 409, "hits_exceeded")
				if resp, _ := mintOn.do("HEAD", "/object/"+get, nil); resp.StatusCode != 200 || resp.ContentLength != int64(tc.size) {
					t.Fatalf("HEAD: got %d, length %d", resp.StatusCode, resp.ContentLength)
				}
			})
		}
	})

	// One max_hits=5 token on each master; 200 concurrent GETs per token, alternating between
	// the two gateways, all 600 at once → exactly 5 served per token.
	t.Run("ExactHitsOnEveryMaster", func(t *testing.T) {
		c := client{t, gws[0].URL}
		const perToken, maxHits = 200, 5
		put := c.mint(`{"bucket":"assets","key":"cluster/hits","method":"PUT"}`)
		if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("payload")); resp.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", resp.StatusCode, b)
		}
		toks := make([]string, len(env.Cluster.Addrs))
		for i, found := 0, 0; found < len(toks); i++ {
			if i == 1000 {
				t.Fatal("1000 custom tokens did not cover every master")
			}
			tok := customToken("cluster-hits", i)
			if m := env.master(t, tok); toks[m] == "" {
				toks[m] = tok
				found++
			}
		}
		for _, tok := range toks {
			c.mint(fmt.Sprintf(`{"token":%q,"bucket":"assets","key":"cluster/hits","method":"GET","max_hits":%d}`, tok, maxHits))
		}
		tr := &http.Transport{MaxIdleConnsPerHost: 100}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		served := make([]atomic.Int32, len(toks))
		refused := make([]atomic.Int32, len(toks))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for m, tok := range toks {
			for i := range perToken {
				wg.Go(func() {
					<-start
					resp, err := hc.Get(gws[i%2].URL + "/object/" + tok)
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					switch {
					case resp.StatusCode == 200 && string(body) == "payload":
						served[m].Add(1)
					case resp.StatusCode == 409:
						refused[m].Add(1)
					default:
						t.Errorf("got %d %s", resp.StatusCode, body)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		for m, tok := range toks {
			if served[m].Load() != maxHits || refused[m].Load() != perToken-maxHits {
				t.Errorf("token on master %s: got %d served and %d refused, want %d and %d",
					env.Cluster.Addrs[m], served[m].Load(), refused[m].Load(), maxHits, perToken-maxHits)
			}
			if got := (client{t, gws[1].URL}).usedHits(tok); got != maxHits {
				t.Errorf("token on master %s: used_hits %d, want %d", env.Cluster.Addrs[m], got, maxHits)
			}
		}
	})

	// Every GET and PUT through a token with a callback is delivered once, signed,
	// whichever gateway served it and whichever gateway's workers deliver it.
	t.Run("Webhooks", func(t *testing.T) {
		c := client{t, gws[0].URL}
		const gets = 40
		hook := rc.srv.URL + "/hook"
		put := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"cluster/hooked","method":"PUT","callback":%q}`, hook))
		if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("hooked"), "X-Request-Id", "cluster-put"); resp.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", resp.StatusCode, b)
		}
		get := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"cluster/hooked","method":"GET","callback":%q}`, hook))
		for i := range gets {
			resp, b := (client{t, gws[i%2].URL}).do("GET", "/object/"+get, nil, "X-Request-Id", fmt.Sprintf("cluster-get-%02d", i))
			if resp.StatusCode != 200 || string(b) != "hooked" {
				t.Fatalf("GET %d: %d %s", i, resp.StatusCode, b)
			}
		}
		rc.waitDelivered(t, gets+1, 20*time.Second)
		distinct, maxPer, bad := rc.delivered()
		if distinct != gets+1 || maxPer != 1 || bad != 0 {
			t.Fatalf("got %d distinct, max %d per id, %d bad signatures; want %d, 1, 0", distinct, maxPer, bad, gets+1)
		}
		rc.mu.Lock()
		ids := map[string]bool{}
		for _, b := range rc.events {
			var ev struct {
				RequestID string `json:"request_id"`
			}
			_ = jsonUnmarshal(b, &ev)
			ids[ev.RequestID] = true
		}
		rc.mu.Unlock()
		if !ids["cluster-put"] {
			t.Error("the PUT's event never arrived")
		}
		for i := range gets {
			if !ids[fmt.Sprintf("cluster-get-%02d", i)] {
				t.Errorf("the event of GET %d never arrived", i)
			}
		}
	})

	// A revocation on one gateway stops the token on both at once.
	t.Run("StatusAndDelete", func(t *testing.T) {
		c := client{t, gws[0].URL}
		auth := []string{"Authorization", "Bearer " + controlToken}
		put := c.mint(`{"bucket":"assets","key":"cluster/revoked","method":"PUT"}`)
		if resp, b := c.do("PUT", "/object/"+put, strings.NewReader("x")); resp.StatusCode != 200 {
			t.Fatalf("PUT: %d %s", resp.StatusCode, b)
		}
		get := c.mint(`{"bucket":"assets","key":"cluster/revoked","method":"GET","max_hits":3}`)
		if resp, _ := (client{t, gws[1].URL}).do("GET", "/object/"+get, nil); resp.StatusCode != 200 {
			t.Fatalf("GET: got %d", resp.StatusCode)
		}
		st := c.record(get, "/status")
		if st["used_hits"] != 1.0 || st["max_hits"] != 3.0 || st["object_exists"] != true || st["object_size"] != 1.0 {
			t.Fatalf("status: got %v", st)
		}
		if resp, b := (client{t, gws[1].URL}).do("DELETE", "/token/"+get, nil, auth...); resp.StatusCode != 204 {
			t.Fatalf("DELETE: got %d %s", resp.StatusCode, b)
		}
		for _, gw := range gws {
			g := client{t, gw.URL}
			resp, b := g.do("GET", "/object/"+get, nil)
			wantCode(t, "GET after DELETE on "+gw.URL, resp, b, 404, "token_not_found")
			resp, b = g.do("GET", "/token/"+get, nil, auth...)
			wantCode(t, "record after DELETE on "+gw.URL, resp, b, 404, "token_not_found")
		}
		resp, b := c.do("DELETE", "/token/"+get, nil, auth...)
		wantCode(t, "second DELETE", resp, b, 404, "token_not_found")
	})

	// Tokens spread over the masters: each holds some of the keys written above.
	t.Run("KeysOnEveryMaster", func(t *testing.T) {
		var perNode []int64
		for _, addr := range env.Cluster.Addrs {
			nc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			n, err := nc.DBSize(context.Background()).Result()
			nc.Close()
			if err != nil {
				t.Fatal(err)
			}
			perNode = append(perNode, n)
		}
		t.Logf("keys per master: %v", perNode)
		for i, n := range perNode {
			if n == 0 {
				t.Errorf("master %s holds no key", env.Cluster.Addrs[i])
			}
		}
		// The Env's single redis-server saw nothing: everything went to the cluster.
		nc := redis.NewClient(&redis.Options{Addr: env.Redis.Addr, MaxRetries: -1})
		defer nc.Close()
		if n, err := nc.DBSize(context.Background()).Result(); err != nil || n != 0 {
			t.Errorf("keys in the unused single redis-server: got %d (%v), want 0", n, err)
		}
	})
}
