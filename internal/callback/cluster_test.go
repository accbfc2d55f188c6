package callback

// The durable queue on a 3-master Redis Cluster, through the client the gateway builds for a
// cluster (token.NewRedisClient): retries until the receiver recovers, a dead consumer's
// pending events delivered by another pool, two pools sharing the queue, dead letters and
// their replay. One cluster serves every case; each case has its own key prefix.

import (
	"context"
	"errors"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/testenv"
	"github.com/assetgateway/assetgateway/internal/token"
)

// clusterEnv is one case's world on the shared cluster: the package's env (fake clock,
// captured logs; its rdb stays nil, so the single-node helpers never touch the cluster) and a
// key prefix of its own.
type clusterEnv struct {
	*env
	cluster *testenv.RedisCluster
	prefix  string
	rdb     redis.UniversalClient // the case's own client, for its checks
}

func newClusterEnv(t *testing.T, c *testenv.RedisCluster) *clusterEnv {
	t.Helper()
	ce := &clusterEnv{
		env:     &env{t: t, mode: mode{"cluster", true}, clock: newFakeClock(), logs: &logBuffer{}},
		cluster: c,
		prefix:  path.Base(t.Name()) + ":",
	}
	ce.rdb = ce.client()
	return ce
}

// client returns a new cluster client, configured as the gateway's: each pool gets its own,
// as separate gateway processes would.
func (ce *clusterEnv) client() redis.UniversalClient {
	ce.t.Helper()
	rdb := token.NewRedisClient(token.ClientOptions{ClusterAddrs: ce.cluster.Addrs, Timeout: 2 * time.Second})
	ce.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// clusterOpts are the package's test defaults on a new cluster client and this case's prefix.
func (ce *clusterEnv) clusterOpts() Options {
	o := ce.opts()
	o.Redis = ce.client()
	o.KeyPrefix = ce.prefix
	return o
}

func (ce *clusterEnv) key(k string) string { return ce.prefix + k }

func TestRedisCluster(t *testing.T) {
	c := testenv.StartRedisCluster(t)
	t.Run("KeysShareOneSlot", func(t *testing.T) { testClusterKeysShareOneSlot(t, newClusterEnv(t, c)) })
	t.Run("DeliveryRetries", func(t *testing.T) { testClusterDeliveryRetries(t, newClusterEnv(t, c)) })
	t.Run("CrashedConsumerLosesNothing", func(t *testing.T) { testClusterCrashedConsumer(t, newClusterEnv(t, c)) })
	t.Run("TwoPoolsDeliverEachEventOnce", func(t *testing.T) { testClusterTwoPools(t, newClusterEnv(t, c)) })
	t.Run("DeadLettersAndReplay", func(t *testing.T) { testClusterDeadLetters(t, newClusterEnv(t, c)) })
}

// Every key of the queue hashes to one slot (the {cb} tag), so each of its scripts runs on
// one master; after a dead letter all four keys exist, on that master.
func testClusterKeysShareOneSlot(t *testing.T, ce *clusterEnv) {
	rc := newReceiver(t, answer(http.StatusGone))
	o := ce.clusterOpts()
	o.Retries = []time.Duration{time.Second}
	p := ce.pool(o)
	ce.run(p)
	ce.enqueue(p, rc.url("/"), 2)
	waitFor(t, "two dead letters", 5*time.Second, func() bool { return p.Stats().DeadLettered == 2 })
	// One more event, left in the retry schedule by a failure.
	rc2 := newReceiver(t, answer(http.StatusInternalServerError))
	ce.enqueue(p, rc2.url("/"), 1)
	ctx := context.Background()
	waitFor(t, "a scheduled retry", 5*time.Second, func() bool {
		return redisCount(t, ce.rdb.ZCard(ctx, ce.key(keyRetry))) == 1
	})

	keys := []string{ce.key(keyStream), ce.key(keyRetry), ce.key(keyDead), ce.key(keyDeadData)}
	var slots []int64
	for _, k := range keys {
		slot, err := ce.rdb.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots = append(slots, slot)
	}
	for i := range slots {
		if slots[i] != slots[0] {
			t.Fatalf("slots of %v: got %v, want one slot", keys, slots)
		}
	}
	// Asked directly, the master that owns the slot has all four keys; the others answer
	// MOVED.
	var holders []string
	for _, addr := range ce.cluster.Addrs {
		nc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		n, err := nc.Exists(ctx, keys...).Result()
		nc.Close()
		switch {
		case err == nil && n == int64(len(keys)):
			holders = append(holders, addr)
		case err == nil:
			t.Errorf("master %s holds %d of the %d queue keys", addr, n, len(keys))
		case !strings.HasPrefix(err.Error(), "MOVED "):
			t.Errorf("EXISTS on %s: %v", addr, err)
		}
	}
	if len(holders) != 1 {
		t.Fatalf("masters holding the queue keys: got %v, want exactly one", holders)
	}
	t.Logf("queue keys %v: slot %d, master %s", keys, slots[0], holders[0])
}

// A receiver that fails (500, a dropped connection, 503) and then recovers gets every event
// exactly once with a 2xx, under one webhook-id; the stream and the retry schedule end empty.
func testClusterDeliveryRetries(t *testing.T, ce *clusterEnv) {
	const events = 5
	rc := newReceiver(t, answer(500, 0, 503, 200))
	o := ce.clusterOpts()
	o.Secrets = []string{vectorSecret}
	o.Retries = []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
	p := ce.pool(o)
	stop := ce.run(p)
	ce.enqueue(p, rc.url("/hook"), events)

	advanceUntil(t, ce.clock, time.Second, "every event delivered", func() bool { return len(rc.delivered()) == events })
	waitFor(t, "stats to settle", 5*time.Second, func() bool { return p.Stats().Delivered == events })
	stop()

	byID := map[string][]int{}
	for _, h := range rc.requests() {
		byID[h.ID] = append(byID[h.ID], h.Status)
		if !verify(vectorSecret, h.ID, h.Timestamp, h.Body, h.Signature) {
			t.Errorf("%s: signature does not verify", h.ID)
		}
	}
	if len(byID) != events {
		t.Fatalf("distinct webhook-ids: got %d, want %d", len(byID), events)
	}
	for id, statuses := range byID {
		if want := []int{500, 0, 503, 200}; !equalInts(statuses, want) {
			t.Errorf("%s: statuses got %v, want %v", id, statuses, want)
		}
	}
	if st := p.Stats(); st.Delivered != events || st.Attempts != 4*events || st.Failed != 3*events || st.DeadLettered != 0 {
		t.Errorf("stats: got %+v", st)
	}
	ctx := context.Background()
	if n := redisCount(t, ce.rdb.XLen(ctx, ce.key(keyStream))); n != 0 {
		t.Errorf("stream length after delivery: got %d, want 0", n)
	}
	if n := redisCount(t, ce.rdb.ZCard(ctx, ce.key(keyRetry))); n != 0 {
		t.Errorf("retry schedule after delivery: got %d, want 0", n)
	}
}

// A replica read 100 events with XREADGROUP and vanished; another pool (another client)
// claims them once they have been idle for ClaimIdle and delivers each exactly once.
func testClusterCrashedConsumer(t *testing.T, ce *clusterEnv) {
	const events = 100
	ctx := context.Background()
	rc := newReceiver(t, nil)
	writer := ce.pool(ce.clusterOpts()) // Enqueue works without Run
	ce.enqueue(writer, rc.url("/"), events)
	stream := ce.key(keyStream)
	if err := ce.rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := ce.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "dead-replica",
		Streams: []string{stream, ">"}, Count: events}).Result()
	if err != nil || len(res) != 1 || len(res[0].Messages) != events {
		t.Fatalf("raw read: got %v %v, want %d entries", res, err, events)
	}
	if n := rc.arrivals(); n != 0 {
		t.Fatalf("deliveries before recovery: got %d, want 0", n)
	}

	o := ce.clusterOpts()
	o.ClaimIdle = 50 * time.Millisecond
	rescuer := ce.pool(o)
	ce.run(rescuer)
	waitFor(t, "every event delivered by the rescuer", 15*time.Second, func() bool { return len(rc.delivered()) == events })
	waitFor(t, "the stream to empty", 5*time.Second, func() bool {
		return redisCount(t, ce.rdb.XLen(ctx, stream)) == 0
	})
	for id, n := range rc.delivered() {
		if n != 1 {
			t.Errorf("%s delivered %d times, want 1", id, n)
		}
	}
	if n := len(rc.requests()); n != events {
		t.Errorf("requests: got %d, want %d", n, events)
	}
}

// Two pools, each on its own cluster client, share the queue: 200 events, each delivered once.
func testClusterTwoPools(t *testing.T, ce *clusterEnv) {
	const events = 200
	rc := newReceiver(t, nil)
	a, b := ce.pool(ce.clusterOpts()), ce.pool(ce.clusterOpts())
	ce.run(a)
	ce.run(b)
	for i := range events {
		p := a
		if i%2 == 1 {
			p = b
		}
		if err := p.Enqueue(context.Background(), rc.url("/"), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every event delivered", 15*time.Second, func() bool { return len(rc.delivered()) == events })
	waitFor(t, "both pools to settle", 5*time.Second, func() bool {
		return a.Stats().Delivered+b.Stats().Delivered == events
	})
	for id, n := range rc.delivered() {
		if n != 1 {
			t.Errorf("%s delivered %d times, want 1", id, n)
		}
	}
	if n := len(rc.requests()); n != events {
		t.Errorf("requests: got %d, want %d", n, events)
	}
	t.Logf("pool a delivered %d, pool b %d", a.Stats().Delivered, b.Stats().Delivered)
}

// A receiver answering 410 dead-letters every event at once; the list is bounded and newest
// first; a replay, once the receiver is fixed, delivers under the original webhook-id, once.
func testClusterDeadLetters(t *testing.T, ce *clusterEnv) {
	var fixed atomic.Bool
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
		status := http.StatusGone
		if fixed.Load() {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		return status
	})
	o := ce.clusterOpts()
	o.MaxDeadLetters = 3
	p := ce.pool(o)
	ce.run(p)
	var ids []string
	for i := range 5 {
		ce.enqueue(p, rc.url("/"), 1)
		waitFor(t, "dead letter "+strconv.Itoa(i+1), 5*time.Second, func() bool { return p.Stats().DeadLettered == int64(i+1) })
		ids = append(ids, rc.requests()[i].ID)
		ce.clock.Advance(time.Second)
	}
	ctx := context.Background()
	dls, err := p.DeadLetters(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, dl := range dls {
		got = append(got, dl.ID)
	}
	if want := []string{ids[4], ids[3], ids[2]}; !slices.Equal(got, want) {
		t.Fatalf("DeadLetters: got %v, want %v (bounded to 3, newest first)", got, want)
	}
	if n := redisCount(t, ce.rdb.HLen(ctx, ce.key(keyDeadData))); n != 3 {
		t.Errorf("dead-letter records in Redis: got %d, want 3", n)
	}
	if err := p.Replay(ctx, ids[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Replay of a dead letter dropped from the bound: got %v, want ErrNotFound", err)
	}

	fixed.Store(true)
	if err := p.Replay(ctx, ids[4]); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	waitFor(t, "the replayed delivery", 5*time.Second, func() bool { return rc.delivered()[ids[4]] == 1 })
	if err := p.Replay(ctx, ids[4]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Replay: got %v, want ErrNotFound", err)
	}
	if dls, _ := p.DeadLetters(ctx, 0); len(dls) != 2 {
		t.Fatalf("dead letters after the replay: got %d, want 2", len(dls))
	}
}
