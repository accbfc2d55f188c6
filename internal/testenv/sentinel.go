package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a Redis Sentinel deployment owned by one test, all on 127.0.0.1: a primary, one
// replica and three sentinels (quorum 2) watching the primary under MasterName.
type Sentinel struct {
	MasterName string
	// Addrs are the sentinels' host:port addresses.
	Addrs     []string
	Primary   *Redis
	Replica   *Redis
	sentinels []*process
}

// SentinelOptions shapes a Sentinel deployment. The zero value is a fast-failing test setup.
type SentinelOptions struct {
	// DownAfter is how long the primary must be unreachable before the sentinels call it
	// down (down-after-milliseconds). Zero: 1s.
	DownAfter time.Duration
	// FailoverTimeout is the sentinels' failover-timeout. It also delays how soon a sentinel
	// "fixes" a replica that replicates from an unexpected address. Zero: 60s.
	FailoverTimeout time.Duration
	// ReplicaLink, when set, is given the primary's address and returns the address the
	// replica should replicate from (e.g. a toxiproxy proxy in front of the primary).
	ReplicaLink func(primary string) string
}

// StartSentinel starts the deployment, waits until the replica is in sync and every sentinel
// knows the replica, and stops it all when t ends.
func StartSentinel(t testing.TB, o SentinelOptions) *Sentinel {
	t.Helper()
	Integration(t)
	if o.DownAfter <= 0 {
		o.DownAfter = time.Second
	}
	if o.FailoverTimeout <= 0 {
		o.FailoverTimeout = time.Minute
	}
	s := &Sentinel{MasterName: "agmaster"}
	// No diskless-sync delay: the replica is in sync in milliseconds instead of 5 s.
	s.Primary = StartRedis(t, "--repl-diskless-sync-delay", "0")
	link := s.Primary.Addr
	if o.ReplicaLink != nil {
		link = o.ReplicaLink(link)
	}
	host, port, err := net.SplitHostPort(link)
	if err != nil {
		t.Fatal(err)
	}
	s.Replica = StartRedis(t, "--replicaof", host, port, "--repl-diskless-sync-delay", "0")
	if err := s.WaitSynced(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	bin, err := LookBin("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.startSentinel(t, bin, i, o); err != nil {
			t.Fatalf("start sentinel %d: %v", i, err)
		}
	}
	// A sentinel learns the replica from the primary's INFO (every 10s at first, at once on
	// start): wait until each knows it and its peers, or a failover would find no candidate.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, addr := range s.Addrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
		for {
			replicas, rerr := sc.Replicas(ctx, s.MasterName).Result()
			peers, perr := sc.Sentinels(ctx, s.MasterName).Result()
			if rerr == nil && perr == nil && len(replicas) == 1 && len(peers) == 2 {
				break
			}
			if ctx.Err() != nil {
				sc.Close()
				t.Fatalf("sentinel %s: replica and peers not discovered in 30s (replicas %v %v, peers %d %v)",
					addr, replicas, rerr, len(peers), perr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		sc.Close()
	}
	return s
}

// MasterAddr asks the first sentinel that answers which address is the primary now.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var lastErr error
	for _, addr := range s.Addrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
		hp, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		sc.Close()
		if err == nil && len(hp) == 2 {
			return net.JoinHostPort(hp[0], hp[1]), nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("no sentinel answered: %v", lastErr)
}

// WaitSynced waits until the replica has acknowledged every write the primary has taken so
// far (WAIT on the primary), or fails after timeout.
func (s *Sentinel) WaitSynced(timeout time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Primary.Addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Second)
	defer cancel()
	deadline := time.Now().Add(timeout)
	for {
		// A no-op write gives WAIT an offset to wait for even on an idle primary.
		if err := c.Set(ctx, "testenv:sync", time.Now().UnixNano(), 0).Err(); err == nil {
			n, err := c.Do(ctx, "WAIT", 1, 200).Int()
			if err == nil && n >= 1 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %s not in sync with primary %s after %s", s.Replica.Addr, s.Primary.Addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startSentinel starts sentinel i watching the primary, trying a few ports.
func (s *Sentinel) startSentinel(t testing.TB, bin string, i int, o SentinelOptions) error {
	phost, pport, _ := net.SplitHostPort(s.Primary.Addr)
	dir := t.TempDir()
	var lastErr error
	for range 3 {
		sport, err := FreePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", sport)
		conf := filepath.Join(dir, "sentinel.conf")
		text := strings.Join([]string{
			fmt.Sprintf("port %d", sport),
			"bind 127.0.0.1",
			"protected-mode no",
			"dir " + dir,
			fmt.Sprintf("sentinel monitor %s %s %s 2", s.MasterName, phost, pport),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", s.MasterName, o.DownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", s.MasterName, o.FailoverTimeout.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", s.MasterName),
			"",
		}, "\n")
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return err
		}
		p, err := start(bin, []string{conf, "--sentinel"}, nil, filepath.Join(dir, fmt.Sprintf("sentinel-%d-%d.log", i, sport)))
		if err != nil {
			return err
		}
		if lastErr = waitFor(p, 10*time.Second, func() error { return pingRedis(addr) }); lastErr == nil {
			s.sentinels = append(s.sentinels, p)
			s.Addrs = append(s.Addrs, addr)
			t.Cleanup(p.stop)
			return nil
		}
		p.stop()
	}
	return lastErr
}
