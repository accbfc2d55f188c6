package config

import (
	"reflect"
	"testing"
	"time"
)

func TestValidateSentinelAndWait(t *testing.T) {
	sentinel := func(c *Config) {
		c.Redis.Sentinel = RedisSentinel{MasterName: "mymaster", Addrs: []string{"10.0.0.5:26379", "sentinel-2:26379"}}
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // expected problems; none means valid
	}{
		{"sentinel", sentinel, nil},
		{"sentinel with password and db", func(c *Config) {
			sentinel(c)
			c.Redis.Sentinel.Password = "s3cret"
			c.Redis.DB = 2
		}, nil},
		{"sentinel is not embedded", func(c *Config) {
			sentinel(c)
			if c.Redis.Embedded() {
				t.Error("Embedded(): got true with a master name, want false")
			}
		}, nil},
		{"sentinel and addr", func(c *Config) {
			sentinel(c)
			c.Redis.Addr = "127.0.0.1:6379"
		}, []string{"redis.addr: must be empty when redis.sentinel.master_name is set: the sentinels name the primary"}},
		{"sentinel without addrs", func(c *Config) {
			c.Redis.Sentinel.MasterName = "mymaster"
		}, []string{`redis.sentinel.addrs: at least one sentinel is required with redis.sentinel.master_name, e.g. ["10.0.0.5:26379"]`}},
		{"sentinel bad addrs", func(c *Config) {
			sentinel(c)
			c.Redis.Sentinel.Addrs = []string{"10.0.0.5", "h:0", "ok:26379"}
		}, []string{
			`redis.sentinel.addrs[0]: must be host:port, e.g. "10.0.0.5:26379"`,
			`redis.sentinel.addrs[1]: the port must be a number from 1 to 65535, e.g. "10.0.0.5:26379"`,
		}},
		{"master name with space", func(c *Config) {
			sentinel(c)
			c.Redis.Sentinel.MasterName = "my master"
		}, []string{"redis.sentinel.master_name: must not contain whitespace or control characters"}},
		{"addrs without master name", func(c *Config) {
			c.Redis.Sentinel.Addrs = []string{"10.0.0.5:26379"}
			c.Redis.Sentinel.Password = "x"
		}, []string{
			"redis.sentinel.addrs: needs redis.sentinel.master_name",
			"redis.sentinel.password: needs redis.sentinel.master_name",
		}},
		{"wait with addr", func(c *Config) {
			c.Redis.Addr = "127.0.0.1:6379"
			c.Redis.WaitReplicas = 1
		}, nil},
		{"wait with sentinel", func(c *Config) {
			sentinel(c)
			c.Redis.WaitReplicas = 2
			c.Redis.WaitTimeout = 100 * time.Millisecond
		}, nil},
		{"wait negative", func(c *Config) { c.Redis.WaitReplicas = -1 }, []string{"redis.wait_replicas: must not be negative (0: off)"}},
		{"wait on the embedded store", func(c *Config) { c.Redis.WaitReplicas = 1 },
			[]string{"redis.wait_replicas: needs Redis: set redis.addr or redis.sentinel.master_name"}},
		{"wait timeout zero", func(c *Config) {
			c.Redis.Addr = "127.0.0.1:6379"
			c.Redis.WaitReplicas = 1
			c.Redis.WaitTimeout = 0
		}, []string{"redis.wait_timeout: must be greater than zero"}},
		{"wait timeout not below timeout", func(c *Config) {
			c.Redis.Addr = "127.0.0.1:6379"
			c.Redis.WaitReplicas = 1
			c.Redis.WaitTimeout = time.Second
		}, []string{"redis.wait_timeout: must be shorter than redis.timeout (1s), which bounds every command, WAIT included"}},
		{"wait timeout negative while off", func(c *Config) { c.Redis.WaitTimeout = -time.Second },
			[]string{"redis.wait_timeout: must not be negative"}},
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

func TestParseSentinel(t *testing.T) {
	cfg, err := Parse(validYAML(`redis:
  sentinel:
    master_name: mymaster
    addrs: ["10.0.0.5:26379", "10.0.0.6:26379"]
    password: ${SENTINEL_PASSWORD}
  password: primary-secret
  wait_replicas: 1
  wait_timeout: 250ms
`), mapEnv(map[string]string{"SENTINEL_PASSWORD": "sentinel-secret"}), "/base")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default().Redis
	want.Password = "primary-secret"
	want.Sentinel = RedisSentinel{MasterName: "mymaster", Addrs: []string{"10.0.0.5:26379", "10.0.0.6:26379"}, Password: "sentinel-secret"}
	want.WaitReplicas = 1
	want.WaitTimeout = 250 * time.Millisecond
	if !reflect.DeepEqual(cfg.Redis, want) {
		t.Errorf("got  %+v\nwant %+v", cfg.Redis, want)
	}
	if cfg.Redis.Embedded() {
		t.Error("Embedded(): got true, want false")
	}
}

func TestParseSentinelUnknownKey(t *testing.T) {
	_, err := Parse(validYAML("redis:\n  sentinel:\n    master: x\n"), mapEnv(nil), "/base")
	assertProblems(t, err, `redis.sentinel.master: unknown key (line 3), did you mean "master_name"?`)
}
