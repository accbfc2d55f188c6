package callback

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/config"
)

// A receiver that fails (500, a dropped connection, 503) and then recovers gets every event
// exactly once with a 2xx, with a constant webhook-id, a rising webhook-timestamp, the same
// body and valid signatures on every attempt.
func TestDeliveryRetriesUntilReceiverRecovers(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		const events = 5
		secrets := []string{vectorSecret, "previous raw secret"}
		rc := newReceiver(t, answer(500, 0, 503, 200))
		o := e.opts()
		o.Secrets = secrets
		o.Retries = []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
		p := e.pool(o)
		stop := e.run(p)
		target := rc.url("/hook?token=SECRETQUERY")
		evs := e.enqueue(p, target, events)

		advanceUntil(t, e.clock, time.Second, "every event delivered", func() bool { return len(rc.delivered()) == events })
		waitFor(t, "stats to settle", 5*time.Second, func() bool { return p.Stats().Delivered == events })
		stop()

		byID := map[string][]hit{}
		for _, h := range rc.requests() {
			byID[h.ID] = append(byID[h.ID], h)
		}
		if len(byID) != events {
			t.Fatalf("distinct webhook-ids: got %d, want %d", len(byID), events)
		}
		wantBodies := map[string]bool{}
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			wantBodies[string(b)] = true
		}
		for id, hits := range byID {
			if !strings.HasPrefix(id, "msg_") {
				t.Errorf("webhook-id %q: want the msg_ prefix", id)
			}
			var statuses []int
			for _, h := range hits {
				statuses = append(statuses, h.Status)
			}
			if got, want := statuses, []int{500, 0, 503, 200}; !equalInts(got, want) {
				t.Errorf("%s: statuses got %v, want %v", id, got, want)
			}
			if !wantBodies[hits[0].Body] {
				t.Errorf("%s: body %s is not one of the enqueued events", id, hits[0].Body)
			}
			prevTS := int64(0)
			for i, h := range hits {
				if h.Body != hits[0].Body {
					t.Errorf("%s attempt %d: body changed: got %s, want %s", id, i+1, h.Body, hits[0].Body)
				}
				ts, err := strconv.ParseInt(h.Timestamp, 10, 64)
				if err != nil || ts <= prevTS {
					t.Errorf("%s attempt %d: webhook-timestamp %q, want an integer above %d", id, i+1, h.Timestamp, prevTS)
				}
				prevTS = ts
				if n := len(strings.Fields(h.Signature)); n != 2 {
					t.Errorf("%s attempt %d: got %d signatures, want 2", id, i+1, n)
				}
				for _, sec := range secrets {
					if !verify(sec, id, h.Timestamp, h.Body, h.Signature) {
						t.Errorf("%s attempt %d: signature %q does not verify with one of the secrets", id, i+1, h.Signature)
					}
				}
				if h.ContentType != "application/json" || h.UserAgent != "AssetGateway-Webhook/1" {
					t.Errorf("%s attempt %d: content-type %q user-agent %q", id, i+1, h.ContentType, h.UserAgent)
				}
				if h.Query != "token=SECRETQUERY" {
					t.Errorf("%s attempt %d: query got %q, want the target's", id, i+1, h.Query)
				}
			}
		}
		st := p.Stats()
		if st.Delivered != events || st.Attempts != 4*events || st.Failed != 3*events || st.DeadLettered != 0 || st.Enqueued != events {
			t.Errorf("stats: got %+v", st)
		}
		logs := e.logs.String()
		for _, secret := range []string{"SECRETQUERY", "MfKQ9r8G", "previous raw secret"} {
			if strings.Contains(logs, secret) {
				t.Errorf("logs contain %q:\n%s", secret, logs)
			}
		}
		if e.rdb != nil {
			ctx := context.Background()
			if n := redisCount(t, e.rdb.XLen(ctx, "test:{cb}:stream")); n != 0 {
				t.Errorf("stream length after delivery: got %d, want 0", n)
			}
			if n := redisCount(t, e.rdb.ZCard(ctx, "test:{cb}:retry")); n != 0 {
				t.Errorf("retry schedule after delivery: got %d, want 0", n)
			}
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// reports collects the pool's outcome reports.
type reports struct {
	mu  sync.Mutex
	all []report
}

func (r *reports) add(x report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, x)
}

// Handle makes reports a slog.Handler that keeps the pool's "callback_outcome" records.
func (r *reports) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "callback_outcome" {
		return nil
	}
	var x report
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "webhook_id":
			x.ID = a.Value.String()
		case "attempt":
			x.Attempt = int(a.Value.Int64())
		case "status":
			x.Status = int(a.Value.Int64())
		case "error":
			x.Err = a.Value.String()
		case "outcome":
			x.Outcome = a.Value.String()
		case "next":
			x.Next = a.Value.Duration()
		}
		return true
	})
	r.add(x)
	return nil
}

func (r *reports) Enabled(context.Context, slog.Level) bool { return true }
func (r *reports) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *reports) WithGroup(string) slog.Handler            { return r }

func (r *reports) list() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]report(nil), r.all...)
}

func TestRetryAfterIsHonoured(t *testing.T) {
	tests := []struct {
		name   string
		header func(now time.Time) string
		want   time.Duration
	}{
		{"seconds", func(time.Time) string { return "7" }, 7 * time.Second},
		{"HTTP-date", func(now time.Time) string { return now.Add(30 * time.Second).UTC().Format(http.TimeFormat) }, 30 * time.Second},
		{"date in the past", func(now time.Time) string { return now.Add(-time.Hour).UTC().Format(http.TimeFormat) }, 0},
		{"capped at the longest delay", func(time.Time) string { return "86400" }, 2 * time.Minute},
		{"garbage ignored: schedule with jitter", func(time.Time) string { return "soon" }, 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forModes(t, func(t *testing.T, e *env) {
				rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, attempt int) int {
					if attempt == 1 {
						w.Header().Set("Retry-After", tc.header(e.clock.Now()))
						w.WriteHeader(http.StatusServiceUnavailable)
						return http.StatusServiceUnavailable
					}
					w.WriteHeader(http.StatusOK)
					return http.StatusOK
				})
				o := e.opts()
				o.Retries = []time.Duration{time.Minute, 2 * time.Minute}
				o.Jitter = func(d time.Duration) time.Duration { return 2 * d } // Retry-After is not jittered
				var rep reports
				o.Logger = slog.New(&rep)
				p := e.pool(o)
				e.run(p)
				e.enqueue(p, rc.url("/"), 1)

				waitFor(t, "first attempt", 5*time.Second, func() bool { return len(rep.list()) >= 1 })
				first := rep.list()[0]
				if first.Outcome != "retry" || first.Next != tc.want {
					t.Fatalf("after 503: got outcome %q next %s, want retry after %s", first.Outcome, first.Next, tc.want)
				}
				if tc.want > 0 {
					e.clock.Advance(tc.want - time.Second)
					time.Sleep(50 * time.Millisecond) // a negative check: the retry must not come early
					if n := rc.arrivals(); n != 1 {
						t.Fatalf("attempts one second before Retry-After: got %d, want 1", n)
					}
					e.clock.Advance(time.Second)
				}
				waitFor(t, "the retry", 5*time.Second, func() bool { return len(rc.delivered()) == 1 })
			})
		})
	}
}

func TestGoneStopsRetryingAndDeadLetters(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		rc := newReceiver(t, answer(http.StatusGone))
		o := e.opts()
		o.Retries = []time.Duration{time.Second, time.Second}
		p := e.pool(o)
		e.run(p)
		evs := e.enqueue(p, rc.url("/gone?k=v"), 1)

		waitFor(t, "the dead letter", 5*time.Second, func() bool { return p.Stats().DeadLettered == 1 })
		e.clock.Advance(time.Hour)
		time.Sleep(30 * time.Millisecond) // a negative check: nothing more may arrive
		if n := rc.arrivals(); n != 1 {
			t.Fatalf("attempts after 410: got %d, want 1", n)
		}
		dls, err := p.DeadLetters(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) != 1 {
			t.Fatalf("dead letters: got %d, want 1", len(dls))
		}
		dl := dls[0]
		if dl.ID != rc.requests()[0].ID || dl.Target != rc.url("/gone?k=v") || dl.Event != evs[0] ||
			dl.Attempts != 1 || dl.LastStatus != http.StatusGone || !strings.Contains(dl.LastError, "410") {
			t.Fatalf("dead letter: got %+v", dl)
		}
		if want := e.clock.Now().Add(-time.Hour); !dl.FailedAt.Equal(want) {
			t.Fatalf("FailedAt: got %s, want %s", dl.FailedAt, want)
		}
	})
}

// A 3xx is a failed attempt and its Location is never requested.
func TestRedirectIsAFailureAndNotFollowed(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		elsewhere := newReceiver(t, nil)
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
			http.Redirect(w, r, elsewhere.url("/stolen"), http.StatusFound)
			return http.StatusFound
		})
		o := e.opts()
		o.Retries = []time.Duration{time.Second}
		p := e.pool(o)
		e.run(p)
		e.enqueue(p, rc.url("/"), 1)
		advanceUntil(t, e.clock, time.Second, "the dead letter", func() bool { return p.Stats().DeadLettered == 1 })
		if n := rc.arrivals(); n != 2 {
			t.Fatalf("attempts: got %d, want 2", n)
		}
		if n := elsewhere.arrivals(); n != 0 {
			t.Fatalf("redirect target requests: got %d, want 0", n)
		}
		dls, _ := p.DeadLetters(context.Background(), 1)
		if len(dls) != 1 || dls[0].LastStatus != http.StatusFound {
			t.Fatalf("dead letters: got %+v, want one with status 302", dls)
		}
	})
}

func TestSlowReceiverHitsTheTimeout(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
			<-r.Context().Done() // hangs until the client gives up
			return 0
		})
		o := e.opts()
		o.Timeout = 150 * time.Millisecond
		o.Retries = []time.Duration{} // one attempt
		p := e.pool(o)
		e.run(p)
		start := time.Now()
		e.enqueue(p, rc.url("/"), 1)
		waitFor(t, "the dead letter", 5*time.Second, func() bool { return p.Stats().DeadLettered == 1 })
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("attempt took %s, want about the 150ms timeout", took)
		}
		dls, _ := p.DeadLetters(context.Background(), 1)
		if len(dls) != 1 || dls[0].LastStatus != 0 || !strings.Contains(dls[0].LastError, "timed out") {
			t.Fatalf("dead letters: got %+v, want one that timed out", dls)
		}
	})
}

// The whole default schedule (5s, 5m, 30m, 2h, 5h, 10h, 10h) runs on the fake clock in
// milliseconds, ends in a dead letter, and Replay delivers it with the same webhook-id.
func TestWholeDefaultScheduleThenReplay(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		var mu sync.Mutex
		up := false
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
			mu.Lock()
			defer mu.Unlock()
			if up {
				w.WriteHeader(http.StatusOK)
				return http.StatusOK
			}
			w.WriteHeader(http.StatusInternalServerError)
			return http.StatusInternalServerError
		})
		o := e.opts()
		o.Retries = config.Default().Callback.Retries                      // the default schedule
		o.Jitter = func(d time.Duration) time.Duration { return d + d/10 } // deterministic +10%
		var rep reports
		o.Logger = slog.New(&rep)
		p := e.pool(o)
		e.run(p)
		started := time.Now()
		e.enqueue(p, rc.url("/"), 1)

		schedule := config.Default().Callback.Retries
		for i := range len(schedule) + 1 {
			waitFor(t, "attempt "+strconv.Itoa(i+1), 5*time.Second, func() bool { return len(rep.list()) == i+1 })
			r := rep.list()[i]
			if i == len(schedule) {
				if r.Outcome != "dead" || r.Attempt != len(schedule)+1 {
					t.Fatalf("last attempt: got %+v, want dead after %d attempts", r, len(schedule)+1)
				}
				break
			}
			want := schedule[i] + schedule[i]/10
			if r.Outcome != "retry" || r.Next != want {
				t.Fatalf("attempt %d: got outcome %q next %s, want retry after %s", i+1, r.Outcome, r.Next, want)
			}
			e.clock.Advance(r.Next)
		}
		if took := time.Since(started); took > 10*time.Second {
			t.Errorf("schedule took %s of real time", took)
		}
		dls, err := p.DeadLetters(context.Background(), 0)
		if err != nil || len(dls) != 1 {
			t.Fatalf("dead letters: got %v %v, want one", dls, err)
		}
		id := dls[0].ID
		if dls[0].Attempts != 8 || dls[0].LastStatus != 500 {
			t.Fatalf("dead letter: got %+v, want 8 attempts, last status 500", dls[0])
		}

		mu.Lock()
		up = true
		mu.Unlock()
		if err := p.Replay(context.Background(), id); err != nil {
			t.Fatalf("Replay: %v", err)
		}
		waitFor(t, "the replayed delivery", 5*time.Second, func() bool { return rc.delivered()[id] == 1 })
		hits := rc.requests()
		if len(hits) != 9 {
			t.Fatalf("requests: got %d, want 8 failures and 1 delivery", len(hits))
		}
		for _, h := range hits {
			if h.ID != id || h.Body != hits[0].Body {
				t.Fatalf("request %+v: want webhook-id %s and the same body throughout", h, id)
			}
		}
		if err := p.Replay(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Replay: got %v, want ErrNotFound", err)
		}
		if err := p.Replay(context.Background(), "msg_unknown"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Replay of an unknown id: got %v, want ErrNotFound", err)
		}
		if dls, _ := p.DeadLetters(context.Background(), 0); len(dls) != 0 {
			t.Fatalf("dead letters after replay: got %d, want 0", len(dls))
		}
	})
}

func TestDeadLettersAreBoundedNewestFirst(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		rc := newReceiver(t, answer(http.StatusGone))
		o := e.opts()
		o.MaxDeadLetters = 3
		p := e.pool(o)
		e.run(p)
		var ids []string
		for i := range 5 {
			e.enqueue(p, rc.url("/"), 1)
			waitFor(t, "dead letter "+strconv.Itoa(i+1), 5*time.Second, func() bool { return p.Stats().DeadLettered == int64(i+1) })
			ids = append(ids, rc.requests()[i].ID)
			e.clock.Advance(time.Second)
		}
		for _, tc := range []struct {
			limit int
			want  []string
		}{
			{0, []string{ids[4], ids[3], ids[2]}},
			{2, []string{ids[4], ids[3]}},
			{10, []string{ids[4], ids[3], ids[2]}},
		} {
			dls, err := p.DeadLetters(context.Background(), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, dl := range dls {
				got = append(got, dl.ID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("DeadLetters(%d): got %v, want %v", tc.limit, got, tc.want)
			}
		}
		if err := p.Replay(context.Background(), ids[0]); !errors.Is(err, ErrNotFound) {
			t.Errorf("Replay of a dead letter dropped from the bound: got %v, want ErrNotFound", err)
		}
		if e.rdb != nil {
			if n := redisCount(t, e.rdb.HLen(context.Background(), "test:{cb}:dead:data")); n != 3 {
				t.Errorf("dead-letter records in Redis: got %d, want 3", n)
			}
		}
	})
}

// A receiver that hangs holds at most PerHost deliveries; the other host's events go through
// while it hangs.
func TestHungHostDoesNotDelayOtherHosts(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		release := make(chan struct{})
		var releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		hung := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusOK)
			return http.StatusOK
		})
		t.Cleanup(unblock) // runs before hung's Close (cleanups run last-registered first)
		good := newReceiver(t, nil)
		o := e.opts()
		o.Workers = 2
		o.PerHost = 1
		o.Timeout = 30 * time.Second
		p := e.pool(o)
		stop := e.run(p)

		e.enqueue(p, hung.url("/"), 3)
		waitFor(t, "the hung receiver to hold one delivery", 5*time.Second, func() bool { return hung.arrivals() == 1 })
		e.enqueue(p, good.url("/"), 5)
		waitFor(t, "the other host's deliveries", 5*time.Second, func() bool { return len(good.delivered()) == 5 })
		if n := hung.arrivals(); n != 1 {
			t.Errorf("concurrent requests to the hung host: got %d, want PerHost=1", n)
		}
		if st := p.Stats(); st.Deferred < 2 {
			t.Errorf("deferred: got %d, want at least the 2 other hung-host events", st.Deferred)
		}
		unblock()
		stop()
	})
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	e := newEnv(t, mode{"memory", false})
	o := e.opts()
	o.QueueSize = 2
	p := e.pool(o) // not running: nothing drains the queue
	e.enqueue(p, "http://127.0.0.1:1/", 2)
	start := time.Now()
	for i := range 50 {
		if err := p.Enqueue(context.Background(), "http://127.0.0.1:1/", testEvent(i)); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("Enqueue into a full queue: got %v, want ErrQueueFull", err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("50 refused Enqueues took %s: they must not block", took)
	}
	st := p.Stats()
	if st.Dropped != 50 || st.Enqueued != 2 || st.Queued != 2 {
		t.Fatalf("stats: got %+v, want 50 dropped, 2 enqueued, 2 queued", st)
	}
	if n := strings.Count(e.logs.String(), "callback queue full"); n != 1 {
		t.Fatalf("queue-full warnings: got %d, want 1 (rate-limited)", n)
	}
}

func TestNewWarnsWhenNotDurable(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		e.pool(e.opts())
		got := strings.Count(e.logs.String(), "level=WARN msg=\"callback delivery is not durable")
		want := 1
		if e.rdb != nil {
			want = 0
		}
		if got != want {
			t.Fatalf("not-durable warnings: got %d, want %d\n%s", got, want, e.logs.String())
		}
	})
}

func TestEnqueueRejectsBadTargets(t *testing.T) {
	e := newEnv(t, mode{"memory", false})
	p := e.pool(e.opts())
	for _, target := range []string{
		"", "ftp://example.com/", "http://u:p@example.com/", "http:///x", "example.com/hook",
		"http://example.com/\n", "http://" + strings.Repeat("a", MaxURLLength) + ".com/",
	} {
		if err := p.Enqueue(context.Background(), target, testEvent(0)); !errors.Is(err, ErrBadTarget) {
			t.Errorf("Enqueue(%q): got %v, want ErrBadTarget", target, err)
		}
	}
	if st := p.Stats(); st.Enqueued != 0 {
		t.Errorf("enqueued: got %d, want 0", st.Enqueued)
	}
}

func TestEnqueueDefaultsTheEventName(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		rc := newReceiver(t, nil)
		p := e.pool(e.opts())
		e.run(p)
		ev := testEvent(0)
		ev.Event = ""
		if err := p.Enqueue(context.Background(), rc.url("/"), ev); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the delivery", 5*time.Second, func() bool { return len(rc.delivered()) == 1 })
		var got Event
		if err := json.Unmarshal([]byte(rc.requests()[0].Body), &got); err != nil || got.Event != EventAccess {
			t.Fatalf("event name: got %q (%v), want %q", got.Event, err, EventAccess)
		}
	})
}

func TestRunDrainsAndLeavesNoGoroutines(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		rc := newReceiver(t, nil)
		check := leakCheck(t)
		p := e.pool(e.opts())
		e.enqueue(p, rc.url("/"), 20)
		stop := e.run(p)
		if e.rdb == nil {
			// Cancelled at once: the in-memory queue is drained before Run returns.
			stop()
		} else {
			waitFor(t, "delivery", 5*time.Second, func() bool { return len(rc.delivered()) == 20 })
			stop()
		}
		if got := len(rc.delivered()); got != 20 {
			t.Fatalf("delivered by the time Run returned: got %d, want 20", got)
		}
		if err := p.Run(context.Background()); !errors.Is(err, errRunTwice) {
			t.Fatalf("second Run: got %v, want an error", err)
		}
		if e.rdb == nil {
			if err := p.Enqueue(context.Background(), rc.url("/"), testEvent(0)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Enqueue after Run: got %v, want ErrClosed", err)
			}
		} else {
			consumers, err := e.rdb.XInfoConsumers(context.Background(), "test:{cb}:stream", "delivery").Result()
			if err != nil || len(consumers) != 0 {
				t.Fatalf("consumers after a clean stop: got %v (%v), want none", consumers, err)
			}
		}
		check()
	})
}

// DrainTimeout bounds Run even when a receiver hangs.
func TestRunReturnsWithinDrainTimeout(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		hung := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
			<-r.Context().Done()
			return 0
		})
		check := leakCheck(t)
		o := e.opts()
		o.Timeout = 30 * time.Second
		o.DrainTimeout = 200 * time.Millisecond
		p := e.pool(o)
		e.enqueue(p, hung.url("/"), 1)
		stop := e.run(p)
		waitFor(t, "the hung attempt", 5*time.Second, func() bool { return hung.arrivals() == 1 })
		start := time.Now()
		stop()
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("Run took %s to return after cancel, want about DrainTimeout", took)
		}
		if st := p.Stats(); st.Abandoned != 1 || st.Failed != 0 {
			t.Fatalf("stats: got %+v, want 1 abandoned, no failed attempt", st)
		}
		if e.rdb != nil {
			// The event stays pending in Redis for another consumer.
			pend, err := e.rdb.XPending(context.Background(), "test:{cb}:stream", "delivery").Result()
			if err != nil || pend.Count != 1 {
				t.Fatalf("pending after abandon: got %+v (%v), want 1", pend, err)
			}
		}
		check()
	})
}

// A failure while the bounded in-memory retry schedule is full dead-letters the event at once
// rather than growing memory without bound.
func TestFullInMemoryScheduleDeadLetters(t *testing.T) {
	e := newEnv(t, mode{"memory", false})
	rc := newReceiver(t, answer(http.StatusInternalServerError))
	o := e.opts()
	o.MaxScheduled = 1
	o.Retries = []time.Duration{time.Hour}
	p := e.pool(o)
	e.run(p)
	e.enqueue(p, rc.url("/"), 2)
	waitFor(t, "one scheduled, one dead", 5*time.Second, func() bool {
		st := p.Stats()
		return st.Scheduled == 1 && st.DeadLettered == 1
	})
	dls, _ := p.DeadLetters(context.Background(), 0)
	if len(dls) != 1 || !strings.Contains(dls[0].LastError, "schedule full") || dls[0].LastStatus != 500 {
		t.Fatalf("dead letters: got %+v, want one refused by the full schedule", dls)
	}
}
