package config

import (
	"reflect"
	"testing"
)

func TestValidateCluster(t *testing.T) {
	cluster := func(c *Config) {
		c.Redis.Cluster = RedisCluster{Addrs: []string{"10.0.0.5:6379", "redis-2:6379", "[fd00::7]:7000"}}
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // expected problems; none means valid
	}{
		{"cluster", cluster, nil},
		{"one seed with password and user", func(c *Config) {
			c.Redis.Cluster.Addrs = []string{"127.0.0.1:7000"}
			c.Redis.Username = "gateway"
			c.Redis.Password = "s3cret"
		}, nil},
		{"cluster is not embedded", func(c *Config) {
			cluster(c)
			if c.Redis.Embedded() {
				t.Error("Embedded(): got true with cluster addrs, want false")
			}
		}, nil},
		{"bad seeds", func(c *Config) {
			c.Redis.Cluster.Addrs = []string{"10.0.0.5", "h:0", "ok:6379", ""}
		}, []string{
			`redis.cluster.addrs[0]: must be host:port, e.g. "10.0.0.5:6379"`,
			`redis.cluster.addrs[1]: the port must be a number from 1 to 65535, e.g. "10.0.0.5:6379"`,
			`redis.cluster.addrs[3]: must be host:port, e.g. "10.0.0.5:6379"`,
		}},
		{"cluster and addr", func(c *Config) {
			cluster(c)
			c.Redis.Addr = "127.0.0.1:6379"
		}, []string{"redis.addr: must be empty when redis.cluster.addrs is set: the cluster's nodes are found from the seed list"}},
		{"cluster and sentinel", func(c *Config) {
			cluster(c)
			c.Redis.Sentinel = RedisSentinel{MasterName: "mymaster", Addrs: []string{"10.0.0.5:26379"}}
		}, []string{"redis.sentinel.master_name: must be empty when redis.cluster.addrs is set: use Sentinel or Cluster, not both"}},
		{"cluster with db", func(c *Config) {
			cluster(c)
			c.Redis.DB = 1
		}, []string{"redis.db: must be 0 with redis.cluster.addrs: Redis Cluster has only database 0"}},
		{"cluster with wait", func(c *Config) {
			cluster(c)
			c.Redis.WaitReplicas = 1
		}, []string{"redis.wait_replicas: not supported with a cluster (redis.cluster.addrs): " +
			"WAIT must run on the connection that wrote, which a cluster client cannot pin (every write would answer 503)"}},
		{"cluster with a hash tag in the prefix", func(c *Config) {
			cluster(c)
			c.Redis.KeyPrefix = "{ag}:"
		}, []string{`redis.key_prefix: must not contain "{" or "}" with redis.cluster.addrs: the gateway's own {…} hash tags place each token's keys in one slot`}},
		{"braces in the prefix without a cluster", func(c *Config) {
			c.Redis.Addr = "127.0.0.1:6379"
			c.Redis.KeyPrefix = "{ag}:"
		}, nil},
		{"every conflict at once", func(c *Config) {
			cluster(c)
			c.Redis.Addr = "127.0.0.1:6379"
			c.Redis.Sentinel = RedisSentinel{MasterName: "mymaster", Addrs: []string{"10.0.0.5:26379"}}
			c.Redis.DB = 3
			c.Redis.WaitReplicas = 2
		}, []string{
			"redis.addr: must be empty when redis.cluster.addrs is set: the cluster's nodes are found from the seed list",
			"redis.addr: must be empty when redis.sentinel.master_name is set: the sentinels name the primary",
			"redis.db: must be 0 with redis.cluster.addrs: Redis Cluster has only database 0",
			"redis.sentinel.master_name: must be empty when redis.cluster.addrs is set: use Sentinel or Cluster, not both",
			"redis.wait_replicas: not supported with a cluster (redis.cluster.addrs): " +
				"WAIT must run on the connection that wrote, which a cluster client cannot pin (every write would answer 503)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			assertProblems(t, err, tc.want...)
		})
	}
}

func TestParseCluster(t *testing.T) {
	cfg, err := Parse(validYAML(`redis:
  cluster:
    addrs: ["10.0.0.5:6379", "${SEED2}"]
  password: ${REDIS_PASSWORD}
`), mapEnv(map[string]string{"SEED2": "10.0.0.6:6379", "REDIS_PASSWORD": "cluster-secret"}), "/base")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default().Redis
	want.Password = "cluster-secret"
	want.Cluster = RedisCluster{Addrs: []string{"10.0.0.5:6379", "10.0.0.6:6379"}}
	if !reflect.DeepEqual(cfg.Redis, want) {
		t.Errorf("got  %+v\nwant %+v", cfg.Redis, want)
	}
	if cfg.Redis.Embedded() {
		t.Error("Embedded(): got true, want false")
	}
}

func TestParseClusterUnknownKey(t *testing.T) {
	_, err := Parse(validYAML("redis:\n  cluster:\n    addr: [\"10.0.0.5:6379\"]\n"), mapEnv(nil), "/base")
	assertProblems(t, err, `redis.cluster.addr: unknown key (line 3), did you mean "addrs"?`)
}
