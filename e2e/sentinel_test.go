package e2e

// Redis Sentinel: the gateway finds the primary through three sentinels, follows a failover,
// and — with redis.wait_replicas — refuses to serve on hits that a failover could lose.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// withSentinel points the gateway at the deployment instead of a fixed Redis address.
func withSentinel(s *testenv.Sentinel, waitReplicas int) func(map[string]any) {
	return func(cfg map[string]any) {
		r := section(cfg, "redis")
		r["addr"] = ""
		r["sentinel"] = map[string]any{"master_name": s.MasterName, "addrs": s.Addrs}
		r["timeout"] = "500ms"
		r["wait_replicas"] = waitReplicas
		r["wait_timeout"] = "200ms"
	}
}

// waitMaster polls the sentinels until they name a primary other than old.
func waitMaster(t *testing.T, s *testenv.Sentinel, old string, within time.Duration) string {
	t.Helper()
	var addr string
	ok := pollUntil(within, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		a, err := s.MasterAddr(ctx)
		addr = a
		return err == nil && a != old
	})
	if !ok {
		t.Fatalf("the sentinels still name %s as primary after %s", addr, within)
	}
	return addr
}

// timed is one request's outcome with when it started.
type timed struct {
	start time.Time
	outcome
}

// TestSentinelFailover: under load (downloads and mints from six clients), the primary is
// killed with SIGKILL. The sentinels promote the replica; the gateway follows without a
// restart. Meanwhile requests answer 503 store_unavailable (never hang, never 500). The test
// measures the outage: from the kill to the first success of a request started after it.
func TestSentinelFailover(t *testing.T) {
	sen := testenv.StartSentinel(t, testenv.SentinelOptions{DownAfter: time.Second})
	env := newEnv(t, false)
	env.putDirect(t, "sentinel/obj", []byte("payload"))
	gw := startGateway(t, env.Config(withSentinel(sen, 0)))
	c := client{t, gw.URL}
	tok := c.mint(`{"bucket":"assets","key":"sentinel/obj","method":"GET"}`)

	var (
		mu       sync.Mutex
		results  []timed
		acked    []string
		unwanted []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer hc.CloseIdleConnections()
	worker := func(w int, mint bool) {
		defer wg.Done()
		for i := 0; i < 1000000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			var o outcome
			var custom string
			if mint {
				custom = customToken(fmt.Sprintf("sent-w%d", w), i)
				o = try(hc, "POST", gw.URL+"/token", strings.NewReader(fmt.Sprintf(
					`{"token":%q,"bucket":"assets","key":"sentinel/obj","method":"GET"}`, custom)),
					"Authorization", "Bearer "+controlToken)
			} else {
				o = try(hc, "GET", gw.URL+"/object/"+tok, nil)
			}
			mu.Lock()
			results = append(results, timed{start, o})
			if o.status == 201 {
				acked = append(acked, custom)
			}
			if o.status != 200 && o.status != 201 && !(o.status == 503 && o.code == "store_unavailable") && len(unwanted) < 10 {
				unwanted = append(unwanted, o.String())
			}
			mu.Unlock()
			if o.status == 503 {
				time.Sleep(5 * time.Millisecond) // a client honouring Retry-After would wait longer
			}
		}
	}
	for w := range 6 {
		wg.Add(1)
		go worker(w, w >= 4)
	}
	n := func() int { mu.Lock(); defer mu.Unlock(); return len(results) }
	if !pollUntil(10*time.Second, func() bool { return n() >= 200 }) {
		close(stop)
		wg.Wait()
		t.Fatal("load did not get going")
	}
	oldPrimary := sen.Primary.Addr
	sen.Primary.Stop()
	killed := time.Now()
	newPrimary := waitMaster(t, sen, oldPrimary, 30*time.Second)
	promoted := time.Now()
	// Recovered once a request that started after the promotion succeeded; then a bit more load.
	recovered := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range results {
			if r.start.After(promoted) && r.status == 200 {
				return true
			}
		}
		return false
	}
	ok := pollUntil(20*time.Second, recovered)
	after := n()
	if ok {
		pollUntil(10*time.Second, func() bool { return n() >= after+200 })
	}
	close(stop)
	wg.Wait()
	if !ok {
		t.Fatalf("the gateway did not serve within 20s of the promotion of %s:\n%s", newPrimary, gw.Log())
	}

	mu.Lock()
	defer mu.Unlock()
	if len(unwanted) > 0 {
		t.Errorf("answers other than 200, 201 and 503 store_unavailable: %v", unwanted)
	}
	sort.Slice(results, func(i, j int) bool { return results[i].start.Before(results[j].start) })
	var firstOK, lastFail time.Time
	var failures int
	var slowest time.Duration
	for _, r := range results {
		end := r.start.Add(r.took)
		if r.status == 503 {
			failures++
			lastFail = end
			slowest = max(slowest, r.took)
		}
		if r.start.After(killed) && (r.status == 200 || r.status == 201) && firstOK.IsZero() {
			firstOK = end
		}
	}
	if slowest > 2*time.Second {
		t.Errorf("a request took %s to answer 503 during the failover, want at most 2s (redis.timeout 500ms)", slowest)
	}
	for _, r := range results {
		if r.start.After(lastFail) && r.status != 200 && r.status != 201 {
			t.Errorf("after the failover: %s", r.outcome)
		}
	}
	// Tokens acknowledged just before the kill may not have reached the replica (asynchronous
	// replication): count them, this is the risk redis.wait_replicas closes.
	lost := 0
	for _, tk := range acked {
		if o := try(plainClient(5*time.Second), "GET", gw.URL+"/token/"+tk, nil, "Authorization", "Bearer "+controlToken); o.status == 404 {
			lost++
		}
	}
	outage := firstOK.Sub(killed)
	if outage > 15*time.Second {
		t.Errorf("outage %s, want under 15s with down-after-milliseconds 1000", outage)
	}
	t.Logf("primary %s SIGKILLed under load; sentinels promoted %s after %s; first success %s after the kill "+
		"(gateway followed %s after the promotion); %d requests, %d answered 503 (slowest %s); "+
		"%d of %d acknowledged tokens lost to asynchronous replication",
		oldPrimary, newPrimary, promoted.Sub(killed).Round(time.Millisecond), outage.Round(time.Millisecond),
		firstOK.Sub(promoted).Round(time.Millisecond), len(results), failures, slowest.Round(time.Millisecond), lost, len(acked))
}

// TestSentinelReplicationLag: replication from the primary stalls (toxiproxy drops the
// stream), three GETs are answered, the primary dies and the lagging replica is promoted.
//
// Without redis.wait_replicas the new primary has never seen those three hits: a max_hits=3
// token serves three more times — the overshoot risk of asynchronous replication. With
// wait_replicas: 1, the three GETs answer 503 store_unavailable while the replica lags (fail
// closed: nothing served on an unreplicated count), and after the failover the token serves
// exactly three times in all.
func TestSentinelReplicationLag(t *testing.T) {
	for _, wait := range []int{0, 1} {
		t.Run(fmt.Sprintf("wait_replicas=%d", wait), func(t *testing.T) {
			tox := testenv.StartToxiproxy(t)
			var link *testenv.Proxy
			sen := testenv.StartSentinel(t, testenv.SentinelOptions{
				DownAfter:   time.Second,
				ReplicaLink: func(primary string) string { link = tox.Proxy(t, "replication", primary); return link.Addr },
			})
			env := newEnv(t, false)
			env.putDirect(t, "lag/obj", []byte("payload"))
			gw := startGateway(t, env.Config(withSentinel(sen, wait)))
			c := client{t, gw.URL}
			const maxHits = 3
			tok := c.mint(fmt.Sprintf(`{"bucket":"assets","key":"lag/obj","method":"GET","max_hits":%d}`, maxHits))
			if err := sen.WaitSynced(5 * time.Second); err != nil {
				t.Fatal(err)
			}

			link.AddToxic(t, testenv.Toxic{Name: "stall", Type: "timeout", Stream: "downstream", Attributes: map[string]any{"timeout": 0}})
			served := 0
			for range maxHits {
				o := try(plainClient(5*time.Second), "GET", gw.URL+"/object/"+tok, nil)
				switch {
				case o.status == 200:
					served++
				case wait > 0 && o.status == 503 && o.code == "store_unavailable":
					if o.took > time.Second {
						t.Errorf("GET while the replica lags: 503 after %s, want about wait_timeout (200ms)", o.took)
					}
				default:
					t.Fatalf("GET while the replica lags: got %s", o)
				}
			}
			if wait > 0 && served != 0 {
				t.Fatalf("with wait_replicas %d: %d GETs served while the replica lagged, want 0", wait, served)
			}
			if wait == 0 && served != maxHits {
				t.Fatalf("without wait_replicas: %d GETs served while the replica lagged, want %d", served, maxHits)
			}

			old := sen.Primary.Addr
			sen.Primary.Stop()
			promoted := waitMaster(t, sen, old, 30*time.Second)
			if wait > 0 {
				// The promoted replica has no replica of its own: with wait_replicas 1 every hit
				// fails closed until one joins. The old primary comes back as a replica of the
				// new one (the sentinels would reconfigure it too, within about 10 s).
				sen.Primary.Restart(t)
				rc := redis.NewClient(&redis.Options{Addr: old, MaxRetries: -1})
				host, port, _ := net.SplitHostPort(promoted)
				err := rc.Do(context.Background(), "REPLICAOF", host, port).Err()
				rc.Close()
				if err != nil {
					t.Fatalf("REPLICAOF on the old primary: %v", err)
				}
			}
			before := served
			var last outcome
			ok := pollUntil(30*time.Second, func() bool {
				last = try(plainClient(5*time.Second), "GET", gw.URL+"/object/"+tok, nil)
				switch last.status {
				case 200:
					served++
					return false
				case 409:
					return true
				}
				return false
			})
			if !ok {
				t.Fatalf("token not exhausted within 30s of the failover (last answer %s)", last)
			}
			t.Logf("wait_replicas=%d: max_hits %d, served %d before the failover and %d after: %d in all",
				wait, maxHits, before, served-before, served)
			if wait > 0 && served != maxHits {
				t.Errorf("with wait_replicas %d: served %d in all, want exactly max_hits %d", wait, served, maxHits)
			}
			if wait == 0 && served <= maxHits {
				t.Errorf("without wait_replicas: served %d in all; the lost hits did not show (want more than %d)", served, maxHits)
			}
		})
	}
}
