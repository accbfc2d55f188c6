package callback

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Events taken by a consumer that dies before acknowledging are delivered by another pool:
// nothing is lost.
func TestCrashedConsumerLosesNothing(t *testing.T) {
	const events = 100
	tests := []struct {
		name  string
		crash func(t *testing.T, e *env, target string)
	}{
		{
			// A replica read a batch with XREADGROUP and vanished (SIGKILL).
			name: "raw consumer read and vanished",
			crash: func(t *testing.T, e *env, target string) {
				ctx := context.Background()
				writer := e.pool(e.opts()) // Enqueue works without Run
				e.enqueue(writer, target, events)
				if err := e.rdb.XGroupCreateMkStream(ctx, "test:{cb}:stream", "delivery", "0").Err(); err != nil {
					t.Fatal(err)
				}
				res, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "delivery", Consumer: "dead-replica",
					Streams: []string{"test:{cb}:stream", ">"}, Count: events}).Result()
				if err != nil || len(res) != 1 || len(res[0].Messages) != events {
					t.Fatalf("raw read: got %v %v, want %d entries", res, err, events)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mode{"redis", true})
			rc := newReceiver(t, nil)
			tc.crash(t, e, rc.url("/"))
			if n := rc.arrivals(); n != 0 {
				t.Fatalf("deliveries before recovery: got %d, want 0", n)
			}

			o := e.opts()
			o.ClaimIdle = 50 * time.Millisecond
			rescuer := e.pool(o)
			e.run(rescuer)
			waitFor(t, "every event delivered by the rescuer", 15*time.Second, func() bool { return len(rc.delivered()) == events })
			waitFor(t, "the stream to empty", 5*time.Second, func() bool {
				return redisCount(t, e.rdb.XLen(context.Background(), "test:{cb}:stream")) == 0
			})
			for id, n := range rc.delivered() {
				if n != 1 {
					t.Errorf("%s delivered %d times, want 1", id, n)
				}
			}
			if n := len(rc.requests()); n != events {
				t.Errorf("requests: got %d, want %d", n, events)
			}
		})
	}
}

// Two pools on one Redis share the queue and deliver each event exactly once.
func TestTwoPoolsDeliverEachEventOnce(t *testing.T) {
	const events = 200
	e := newEnv(t, mode{"redis", true})
	rc := newReceiver(t, nil)
	a, b := e.pool(e.opts()), e.pool(e.opts())
	e.run(a)
	e.run(b)
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
	if got := redisCount(t, e.rdb.XLen(context.Background(), "test:{cb}:stream")); got != 0 {
		t.Errorf("stream length: got %d, want 0", got)
	}
}

// Events written while no pool runs (or before the group exists) are delivered when one
// starts.
func TestEventsEnqueuedBeforeAnyPoolRuns(t *testing.T) {
	e := newEnv(t, mode{"redis", true})
	rc := newReceiver(t, nil)
	e.enqueue(e.pool(e.opts()), rc.url("/"), 10)
	p := e.pool(e.opts())
	e.run(p)
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(rc.delivered()) == 10 })
}

// With Redis a saturated pool keeps accepting events: they wait in the stream, the backlog is
// logged, and they are delivered once the receiver moves again.
func TestSaturatedRedisQueueKeepsAccepting(t *testing.T) {
	e := newEnv(t, mode{"redis", true})
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	o := e.opts()
	o.Workers = 1
	o.QueueSize = 5
	o.Timeout = 30 * time.Second
	p := e.pool(o)
	e.run(p)
	start := time.Now()
	e.enqueue(p, rc.url("/"), 20)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("20 Enqueues took %s with a stuck receiver", took)
	}
	waitFor(t, "the saturation warning and the whole backlog measured", 5*time.Second, func() bool {
		return strings.Contains(e.logs.String(), "callback queue saturated") && p.Stats().Queued == 20
	})
	if st := p.Stats(); st.Dropped != 0 || st.Delivered != 0 {
		t.Fatalf("stats: got %+v, want the backlog in Redis and nothing dropped", st)
	}
	waitFor(t, "the one worker's request", 5*time.Second, func() bool { return rc.arrivals() >= 1 })
	if n := rc.arrivals(); n != 1 {
		t.Fatalf("requests in flight: got %d, want 1 (one worker)", n)
	}
	close(release)
	waitFor(t, "every event delivered", 10*time.Second, func() bool { return len(rc.delivered()) == 20 })
}

// A Redis that lost its data (restart without persistence, FLUSHALL) loses the consumer group;
// the pool recreates it and keeps delivering.
func TestConsumerGroupIsRecreated(t *testing.T) {
	e := newEnv(t, mode{"redis", true})
	rc := newReceiver(t, nil)
	p := e.pool(e.opts())
	e.run(p)
	e.enqueue(p, rc.url("/"), 3)
	waitFor(t, "the first deliveries", 5*time.Second, func() bool { return len(rc.delivered()) == 3 })
	if err := e.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	e.enqueue(p, rc.url("/"), 3)
	waitFor(t, "deliveries after the flush", 10*time.Second, func() bool { return len(rc.delivered()) == 6 })
}
