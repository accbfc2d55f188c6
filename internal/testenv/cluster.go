package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster owned by one test: three masters on 127.0.0.1, no replicas,
// the 16384 hash slots split between them by redis-cli.
type RedisCluster struct {
	// Addrs are the masters' host:port addresses (any of them is a valid seed).
	Addrs []string
	// Nodes are the three servers, in the order of Addrs (a test may Stop and Restart one:
	// it keeps its nodes.conf, so it rejoins with its slots, without its data).
	Nodes []*Redis
}

// clusterNodeTimeout is the nodes' cluster-node-timeout: how long a master may be unreachable
// before the others call it failed.
const clusterNodeTimeout = 2 * time.Second

// StartRedisCluster starts three `redis-server --cluster-enabled yes` on free loopback ports,
// each in its own t.TempDir(), joins them with `redis-cli --cluster create … --cluster-replicas
// 0 --cluster-yes`, waits until every node reports cluster_state:ok, and stops them when t
// ends. It takes about two seconds.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	Integration(t)
	server, err := LookBin("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := LookBin("redis-cli")
	if err != nil {
		t.Fatal(err)
	}
	c := &RedisCluster{}
	for i := range 3 {
		r, err := startClusterNode(t, server)
		if err != nil {
			t.Fatalf("start cluster node %d: %v", i, err)
		}
		c.Nodes = append(c.Nodes, r)
		c.Addrs = append(c.Addrs, r.Addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitOK(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// startClusterNode starts one cluster-enabled redis-server (client port and cluster bus port
// both picked free, so the bus never depends on port+10000 being free) and registers its stop.
func startClusterNode(t testing.TB, bin string) (*Redis, error) {
	t.Helper()
	r := &Redis{Dir: t.TempDir(), bin: bin}
	var lastErr error
	for range 3 {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		bus, err := FreePort()
		if err != nil {
			return nil, err
		}
		r.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		r.args = []string{
			"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", r.Dir, "--protected-mode", "no",
			"--cluster-enabled", "yes", "--cluster-port", fmt.Sprint(bus),
			// Relative to --dir; one folder per node, so never a stale file from another run.
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
			"--cluster-node-timeout", fmt.Sprint(clusterNodeTimeout.Milliseconds()),
		}
		if lastErr = r.start(); lastErr == nil {
			t.Cleanup(r.Stop)
			return r, nil
		}
	}
	return nil, lastErr
}

// WaitOK polls CLUSTER INFO on every node until each reports cluster_state:ok and knows all
// three masters, or fails after timeout.
func (c *RedisCluster) WaitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range c.Addrs {
		rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second})
		var info string
		var err error
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			info, err = rc.ClusterInfo(ctx).Result()
			cancel()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(c.Addrs))) {
				break
			}
			if time.Now().After(deadline) {
				rc.Close()
				return fmt.Errorf("redis cluster node %s not ok after %s: %v\n%s", addr, timeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		rc.Close()
	}
	return nil
}

// Owner returns the index in Addrs of the master that serves key's hash slot, as the cluster
// itself computes it (CLUSTER KEYSLOT) and assigns it (CLUSTER SHARDS).
func (c *RedisCluster) Owner(key string) (int, error) {
	rc := redis.NewClient(&redis.Options{Addr: c.Addrs[0], MaxRetries: -1})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slot, err := rc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return -1, err
	}
	shards, err := rc.ClusterShards(ctx).Result()
	if err != nil {
		return -1, err
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if slot < r.Start || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role != "master" {
					continue
				}
				addr := net.JoinHostPort(n.IP, fmt.Sprint(n.Port))
				for i, a := range c.Addrs {
					if a == addr {
						return i, nil
					}
				}
				return -1, fmt.Errorf("slot %d is served by %s, not one of %v", slot, addr, c.Addrs)
			}
		}
	}
	return -1, fmt.Errorf("no master serves slot %d", slot)
}
