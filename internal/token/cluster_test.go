package token_test

// The store on a 3-master Redis Cluster: the whole contract, exact counting across clients,
// the key layout (one slot per token, tokens spread over every master), a reply lost after
// the script ran (counted once, never re-sent), a master going away, and WAIT failing closed.

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/token/storetest"
)

// TestRedisClusterStore runs the store on a 3-master cluster: the whole contract, then the
// cluster's own cases, all on one cluster, each under a key prefix of its own; the two that
// stall or stop a master come last.
func TestRedisClusterStore(t *testing.T) {
	c := testenv.StartRedisCluster(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *testenv.RedisCluster)
	}{
		{"Contract", testClusterContract},
		{"Replicas", testClusterReplicas},
		{"KeyLayout", testClusterKeyLayout},
		{"UploadKeyLayout", testClusterUploadKeyLayout},
		{"WaitReplicasFailsClosed", testClusterWaitReplicasFailsClosed},
		{"LostReplyCountsOnce", testClusterLostReplyCountsOnce},
		{"MasterDown", testClusterMasterDown},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, c) })
	}
}

// clusterPrefix is the key prefix of t's keys: its own name, so cases never see each other's.
func clusterPrefix(t *testing.T) string { return path.Base(t.Name()) + ":" }

// newClusterStore returns a store on c with its own cluster client, as a separate gateway
// replica would have, under clusterPrefix(t).
func newClusterStore(t *testing.T, c *testenv.RedisCluster, clock *storetest.Clock, retention time.Duration, timeout time.Duration) *token.RedisStore {
	t.Helper()
	rc := token.NewRedisClient(token.ClientOptions{ClusterAddrs: c.Addrs, Timeout: timeout})
	s := token.NewRedisStore(token.RedisOptions{Client: rc, KeyPrefix: clusterPrefix(t), Retention: retention, Now: clock.Now})
	t.Cleanup(func() { s.Close() })
	return s
}

// nodeClients returns a plain client per master, in the order of c.Addrs.
func nodeClients(t *testing.T, c *testenv.RedisCluster) []*redis.Client {
	t.Helper()
	var out []*redis.Client
	for _, addr := range c.Addrs {
		nc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		t.Cleanup(func() { nc.Close() })
		out = append(out, nc)
	}
	return out
}

// owner returns the index (in c.Addrs) of the master that holds key.
func owner(t *testing.T, c *testenv.RedisCluster, key string) int {
	t.Helper()
	n, err := c.Owner(key)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// getRecord is a record with the fields these tests use.
func getRecord(clock *storetest.Clock, method string, maxHits int64) token.Record {
	return token.Record{Bucket: "b", Key: "k", Method: method, MaxHits: maxHits, Size: token.Unlimited,
		ExpireAt: clock.Now().Add(time.Hour).Unix()}
}

// testClusterContract runs the whole store contract on a RedisStore over a cluster client.
func testClusterContract(t *testing.T, c *testenv.RedisCluster) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock, retention time.Duration) token.Store {
		return newClusterStore(t, c, clock, retention, concurrentTimeout)
	})
}

// testClusterReplicas: one token on each master; for each, 1000 concurrent GETs on
// max_hits=3 spread over four cluster clients (four gateway replicas) → exactly 3 succeed.
// The three tokens are consumed at the same time, so all three masters are under load.
func testClusterReplicas(t *testing.T, c *testenv.RedisCluster) {
	clock := storetest.NewClock()
	var stores []token.Store
	for range 4 {
		stores = append(stores, newClusterStore(t, c, clock, time.Hour, 5*time.Second))
	}
	perNode := map[int]string{}
	for i := 0; len(perNode) < len(c.Addrs); i++ {
		if i == 1000 {
			t.Fatalf("1000 tokens did not cover the %d masters: %v", len(c.Addrs), perNode)
		}
		tok := token.Generate()
		if n := owner(t, c, "{"+token.ID(tok)+"}"); perNode[n] == "" {
			perNode[n] = tok
		}
	}
	var wg sync.WaitGroup
	for n, tok := range perNode {
		if err := stores[0].Create(context.Background(), tok, getRecord(clock, token.MethodGet, 3)); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			t.Run(fmt.Sprintf("master%d", n), func(t *testing.T) {
				storetest.ConsumeConcurrently(t, stores, tok, 1000, 3)
			})
		})
	}
	wg.Wait()
}

// testClusterKeyLayout: 300 tokens, each with a refunded hit. Every token has one key, its
// record, in the slot of its {ID} hash tag (CLUSTER KEYSLOT); and the records spread over all
// three masters.
func testClusterKeyLayout(t *testing.T, c *testenv.RedisCluster) {
	const tokens = 300
	nodes := nodeClients(t, c)
	clock := storetest.NewClock()
	s := newClusterStore(t, c, clock, time.Hour, time.Second)
	ctx := context.Background()
	ids := map[string]bool{}
	for range tokens {
		tok := token.Generate()
		ids[token.ID(tok)] = true
		if err := s.Create(ctx, tok, getRecord(clock, token.MethodPut, 1)); err != nil {
			t.Fatal(err)
		}
		g, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Refund(ctx, g); err != nil {
			t.Fatal(err)
		}
	}

	type place struct {
		node int
		slot int64
	}
	byTag := map[string][]place{} // hash tag → where each of its keys is
	perNode := make([]int, len(nodes))
	for i, nc := range nodes {
		keys, err := nc.Keys(ctx, clusterPrefix(t)+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		perNode[i] = len(keys)
		for _, k := range keys {
			open := strings.IndexByte(k, '{')
			end := strings.IndexByte(k[open+1:], '}')
			if open < 0 || end <= 0 {
				t.Fatalf("key %q on %s has no hash tag", k, c.Addrs[i])
			}
			tag := k[open+1 : open+1+end]
			slot, err := nc.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			tagSlot, err := nc.ClusterKeySlot(ctx, tag).Result()
			if err != nil {
				t.Fatal(err)
			}
			if slot != tagSlot {
				t.Errorf("key %q: slot %d, want %d (its hash tag's)", k, slot, tagSlot)
			}
			byTag[tag] = append(byTag[tag], place{i, slot})
		}
	}
	if len(byTag) != tokens {
		t.Fatalf("hash tags: got %d, want %d (one per token)", len(byTag), tokens)
	}
	for tag, places := range byTag {
		if !ids[tag] {
			t.Errorf("hash tag %q is not the ID of a token created", tag)
		}
		if len(places) != 1 {
			t.Errorf("token %s: got %d keys, want its record only (a refund writes no key)", tag, len(places))
		}
	}
	t.Logf("%d tokens, one key each: keys per master %v", tokens, perNode)
	for i, n := range perNode {
		// A third each on average (σ ≈ 8 tokens); a fifth would be a 5σ miss.
		if n < tokens/5 {
			t.Errorf("master %s holds %d keys, want at least %d: tokens must spread over every master", c.Addrs[i], n, tokens/5)
		}
	}
}

// busy blocks the server at nc for d with a script that spins (nothing else runs there
// meanwhile, as if the host stalled), and returns once the server is seen busy. wait returns
// when the script has ended.
func busy(t *testing.T, nc *redis.Client, d time.Duration) (wait func()) {
	t.Helper()
	spin := redis.NewScript(`
local t0 = redis.call('TIME')
local start = t0[1] * 1000000 + t0[2]
while true do
  local t = redis.call('TIME')
  if t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1]) then return 1 end
end`)
	ctx := context.Background()
	if err := spin.Load(ctx, nc).Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, d+10*time.Second)
		defer cancel()
		done <- spin.EvalSha(ctx, nc, nil, d.Microseconds()).Err()
	}()
	probe := redis.NewClient(&redis.Options{Addr: nc.Options().Addr, MaxRetries: -1, ReadTimeout: 20 * time.Millisecond})
	defer probe.Close()
	deadline := time.Now().Add(d / 2)
	for probe.Ping(ctx).Err() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("server %s still answers PING %s after the spinning script was sent", nc.Options().Addr, d/2)
		}
		time.Sleep(time.Millisecond)
	}
	return func() {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatalf("spinning script: %v", err)
		}
	}
}

// testClusterLostReplyCountsOnce: the master holding a token stalls after the consume
// script was sent; the reply does not come within the client's timeout. The access fails at
// once with ErrUnavailable (one timeout, not one per redirect attempt), and once the master
// moves again the hit is counted exactly once — the script ran once and was never re-sent.
// (Without NewRedisClient's finalTransportErrors hook, go-redis v9.23 re-sends the script up
// to three times: the access takes ~0.9 s instead of 0.2 s, and when a re-send lands after
// the stall it succeeds with used_hits 2 — one hit counted for nothing; 2 runs in 4 here.)
func testClusterLostReplyCountsOnce(t *testing.T, c *testenv.RedisCluster) {
	const timeout = 200 * time.Millisecond
	nodes := nodeClients(t, c)
	clock := storetest.NewClock()
	s := newClusterStore(t, c, clock, time.Hour, timeout)
	ctx := context.Background()
	tok := token.Generate()
	if err := s.Create(ctx, tok, getRecord(clock, token.MethodGet, token.Unlimited)); err != nil {
		t.Fatal(err)
	}
	// A HEAD loads the script on the master and warms the connection; it counts nothing.
	if _, err := s.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1}); err != nil {
		t.Fatal(err)
	}
	n := owner(t, c, "{"+token.ID(tok)+"}")

	wait := busy(t, nodes[n], 4*timeout+100*time.Millisecond)
	start := time.Now()
	_, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	took := time.Since(start)
	if !errors.Is(err, token.ErrUnavailable) {
		t.Errorf("Access while the master stalls: got %v after %s, want ErrUnavailable", err, took)
	}
	if took > 3*timeout { // one timeout, with room for a loaded machine; re-sends take 4
		t.Errorf("Access while the master stalls took %s, want one timeout (%s)", took, timeout)
	}
	wait()
	// Every command sent during the stall is waiting on the master, and runs in the first
	// pass of its event loop after the stall: poll until one has run, then one more round trip
	// reads the count after that whole pass.
	var rec token.Record
	deadline := time.Now().Add(5 * time.Second)
	for rec.UsedHits == 0 {
		if rec, err = s.Get(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("used_hits still 0 5s after the master moved again: the stalled access never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rec, err = s.Get(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if rec.UsedHits != 1 {
		t.Fatalf("used_hits after one access whose reply was lost: got %d, want 1 (run once, never re-sent)", rec.UsedHits)
	}
	t.Logf("access failed after %s; used_hits %d", took.Round(time.Millisecond), rec.UsedHits)
	g, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	if err != nil || g.Record.UsedHits != 2 {
		t.Fatalf("next access: got %v, %v, want used_hits 2", g, err)
	}
}

// testClusterMasterDown: with the master of a token stopped, its accesses fail fast with
// ErrUnavailable; once the master is back (its data gone: no persistence here) the same store
// answers again, without a new client.
func testClusterMasterDown(t *testing.T, c *testenv.RedisCluster) {
	clock := storetest.NewClock()
	s := newClusterStore(t, c, clock, time.Hour, time.Second)
	ctx := context.Background()
	tok := token.Generate()
	if err := s.Create(ctx, tok, getRecord(clock, token.MethodGet, token.Unlimited)); err != nil {
		t.Fatal(err)
	}
	n := owner(t, c, "{"+token.ID(tok)+"}")
	c.Nodes[n].Stop()
	start := time.Now()
	_, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
	if !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Access with its master down: got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Access with its master down took %s, want under 1s", d)
	}
	c.Nodes[n].Restart(t)
	if err := c.WaitOK(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1})
		if errors.Is(err, token.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the master's restart: got %v, want ErrNotFound from a live store", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testClusterWaitReplicasFailsClosed: WAIT needs the connection that wrote, which a
// cluster client cannot pin, so with WaitReplicas on every write that grants or revokes access
// fails with ErrUnavailable and is undone (config validation refuses the combination; this is
// the store's own fail-closed behaviour).
func testClusterWaitReplicasFailsClosed(t *testing.T, c *testenv.RedisCluster) {
	clock := storetest.NewClock()
	plain := newClusterStore(t, c, clock, time.Hour, time.Second)
	rc := token.NewRedisClient(token.ClientOptions{ClusterAddrs: c.Addrs, Timeout: time.Second})
	waiting := token.NewRedisStore(token.RedisOptions{Client: rc, KeyPrefix: clusterPrefix(t), Retention: time.Hour,
		Now: clock.Now, WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { waiting.Close() })
	ctx := context.Background()

	minted := token.Generate()
	if err := waiting.Create(ctx, minted, getRecord(clock, token.MethodGet, 1)); !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Create: got %v, want ErrUnavailable", err)
	}
	if _, err := plain.Get(ctx, minted); !errors.Is(err, token.ErrNotFound) {
		t.Fatalf("the unconfirmed record: got %v, want it removed again", err)
	}

	tok := token.Generate()
	if err := plain.Create(ctx, tok, getRecord(clock, token.MethodGet, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := waiting.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1}); !errors.Is(err, token.ErrUnavailable) {
		t.Fatalf("Access: got %v, want ErrUnavailable", err)
	}
	if rec, err := plain.Get(ctx, tok); err != nil || rec.UsedHits != 0 {
		t.Fatalf("after the refused access: got %+v, %v, want used_hits 0 (refunded)", rec, err)
	}
	if _, err := waiting.Access(ctx, tok, token.Request{Method: token.MethodHead, ContentLength: -1}); err != nil {
		t.Fatalf("HEAD writes nothing and never waits: got %v", err)
	}
}

// testClusterUploadKeyLayout: on tokens spread over every master, each token's uploads, their
// locks and its upload set are in its slot (the upload scripts touch one slot), the expiry
// index in the slot of its own tag, and a whole upload's life runs there: create, lock,
// update, due after the token's deletion, delete.
func testClusterUploadKeyLayout(t *testing.T, c *testenv.RedisCluster) {
	nodes := nodeClients(t, c)
	clock := storetest.NewClock()
	s := newClusterStore(t, c, clock, time.Hour, time.Second)
	ctx := context.Background()
	masters := map[int]bool{}
	var toks []string
	ids := map[string]string{} // token → its upload
	for i := 0; len(masters) < len(c.Addrs); i++ {
		if i == 1000 {
			t.Fatal("1000 tokens did not cover every master")
		}
		tok := token.Generate()
		if n := owner(t, c, "{"+token.ID(tok)+"}"); !masters[n] {
			masters[n] = true
			toks = append(toks, tok)
		}
	}
	for _, tok := range toks {
		if err := s.Create(ctx, tok, getRecord(clock, token.MethodPut, 1)); err != nil {
			t.Fatal(err)
		}
		g, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.CreateUpload(ctx, g, token.Upload{Kind: "tus", Length: 5, Hit: true,
			ExpiresAt: clock.Now().Add(time.Hour).UnixMilli()})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.LockUpload(ctx, token.ID(tok), u.ID, "w", time.Minute); !ok || err != nil {
			t.Fatalf("LockUpload: %v %v", ok, err)
		}
		u.Offset = 5
		if _, err := s.UpdateUpload(ctx, token.ID(tok), u); err != nil {
			t.Fatal(err)
		}
		if err := s.UnlockUpload(ctx, token.ID(tok), u.ID, "w"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.LockUpload(ctx, token.ID(tok), u.ID, "w", time.Minute); !ok || err != nil {
			t.Fatalf("LockUpload: %v %v", ok, err)
		}
		ids[tok] = u.ID
	}
	slots := map[string]int64{} // key → slot
	for i, nc := range nodes {
		keys, err := nc.Keys(ctx, clusterPrefix(t)+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			slot, err := nc.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			slots[k] = slot
			t.Logf("%s: %s (slot %d)", c.Addrs[i], k, slot)
		}
	}
	for _, tok := range toks {
		tag := clusterPrefix(t) + "{" + token.ID(tok) + "}"
		n := 0
		for k, slot := range slots {
			if strings.HasPrefix(k, tag) {
				n++
				if slot != slots[tag] {
					t.Errorf("%s is in slot %d, its token in %d", k, slot, slots[tag])
				}
			}
		}
		if n != 4 { // record, upload, lock, upload set
			t.Errorf("token %s: %d keys, want 4", token.ID(tok), n)
		}
	}
	if _, ok := slots[clusterPrefix(t)+"{uploads}due"]; !ok || len(slots) != 4*len(toks)+1 {
		t.Errorf("got %d keys, want 4 per token and the expiry index", len(slots))
	}
	// Revoking the tokens makes their uploads due; the janitor's calls work across slots.
	for _, tok := range toks {
		if err := s.Delete(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.UnlockUpload(ctx, token.ID(tok), ids[tok], "w"); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.ExpiredUploads(ctx, clock.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != len(toks) {
		t.Fatalf("due after the deletions: %+v, want the %d uploads", due, len(toks))
	}
	for _, d := range due {
		if err := s.DeleteUpload(ctx, d.TokenID, d.Upload.ID); err != nil {
			t.Fatal(err)
		}
	}
}
