package config

import (
	"strings"
	"testing"
	"time"
)

// validConfig returns a configuration that passes Validate, with one alias of each driver.
func validConfig() *Config {
	c := Default()
	c.Server.Host = "https://gw.example.com"
	c.Control.Tokens = []string{"control-token-0123456789abcdefghijklmnop"}
	c.Credentials = map[string]Credential{"main": {AccessKey: "ak", SecretKey: "sk"}}
	c.Buckets = map[string]Bucket{
		"s3":    bucketDefaults(Bucket{Bucket: "assets", Credential: "main"}),
		"files": bucketDefaults(Bucket{Driver: DriverFile, Root: "/srv/files"}),
	}
	return &c
}

func TestValidConfigIsValid(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

func TestValidateNil(t *testing.T) {
	var c *Config
	if err := c.Validate(); err == nil {
		t.Fatal("got nil, want an error for a nil Config")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // the one expected problem; "" means valid
	}{
		// server.listen
		{"listen all interfaces", func(c *Config) { c.Server.Listen = ":8080" }, ""},
		{"listen IPv6 port 0", func(c *Config) { c.Server.Listen = "[::1]:0" }, ""},
		{"listen empty", func(c *Config) { c.Server.Listen = "" }, `server.listen: is required, e.g. ":8080"`},
		{"listen without port", func(c *Config) { c.Server.Listen = "localhost" }, `server.listen: must be host:port, e.g. ":8080" or "127.0.0.1:8080"`},
		{"listen named port", func(c *Config) { c.Server.Listen = ":http" }, `server.listen: the port must be a number from 0 to 65535, e.g. ":8080" or "127.0.0.1:8080"`},
		{"listen port too large", func(c *Config) { c.Server.Listen = ":65536" }, `server.listen: the port must be a number from 0 to 65535, e.g. ":8080" or "127.0.0.1:8080"`},

		// server.host
		{"host with path prefix and slash", func(c *Config) { c.Server.Host = "https://example.com/gateway/" }, ""},
		{"host http with port", func(c *Config) { c.Server.Host = "http://127.0.0.1:8080" }, ""},
		{"host IPv6", func(c *Config) { c.Server.Host = "http://[::1]:8080" }, ""},
		{"host empty", func(c *Config) { c.Server.Host = "" }, `server.host: is required: the public base URL, e.g. "https://gateway.example.com"`},
		{"host without scheme", func(c *Config) { c.Server.Host = "gw.example.com" }, "server.host: must be an absolute http or https URL (scheme http or https)"},
		{"host other scheme", func(c *Config) { c.Server.Host = "ws://gw.example.com" }, "server.host: must be an absolute http or https URL (scheme http or https)"},
		{"host without host", func(c *Config) { c.Server.Host = "https:///path" }, "server.host: must be an absolute http or https URL with a host"},
		{"host port only", func(c *Config) { c.Server.Host = "http://:8080" }, "server.host: must be an absolute http or https URL with a host"},
		{"host opaque", func(c *Config) { c.Server.Host = "https:gw.example.com" }, "server.host: must be an absolute http or https URL"},
		{"host user info", func(c *Config) { c.Server.Host = "https://u:p@gw.example.com" }, "server.host: must not contain user info (user:password@)"},
		{"host query", func(c *Config) { c.Server.Host = "https://gw.example.com/?a=b" }, "server.host: must not contain a query"},
		{"host empty query", func(c *Config) { c.Server.Host = "https://gw.example.com/?" }, "server.host: must not contain a query"},
		{"host fragment", func(c *Config) { c.Server.Host = "https://gw.example.com/#top" }, "server.host: must not contain a fragment"},
		{"host empty fragment", func(c *Config) { c.Server.Host = "https://gw.example.com/#" }, "server.host: must not contain a fragment"},
		{"host port zero", func(c *Config) { c.Server.Host = "https://gw.example.com:0" }, "server.host: the port must be a number from 1 to 65535"},
		{"host port too large", func(c *Config) { c.Server.Host = "https://gw.example.com:70000" }, "server.host: the port must be a number from 1 to 65535"},

		// server.cors
		{"origin star", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"*"} }, ""},
		{"origin with port", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"http://localhost:3000"} }, ""},
		{"origin other scheme", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"capacitor://localhost"} }, ""},
		{"origin with path", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"https://a.example.com/app"} }, `server.cors.allowed_origins[0]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com", without a path`},
		{"origin with query", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"*", "https://a.example.com?x"} }, `server.cors.allowed_origins[1]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com", without query or fragment`},
		{"origin without scheme", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"a.example.com"} }, `server.cors.allowed_origins[0]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com"`},
		{"origin null", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"null"} }, `server.cors.allowed_origins[0]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com"`},
		{"origin default port", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"https://a.example.com:443"} }, `server.cors.allowed_origins[0]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com", without the default port, as browsers send it`},
		{"origin unicode host", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"https://bücher.example"} }, `server.cors.allowed_origins[0]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com"; write an international host in its ASCII "xn--" form`},
		{"origin user info", func(c *Config) { c.Server.CORS.AllowedOrigins = []string{"https://u@a.example.com"} }, `server.cors.allowed_origins[0]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com", without user info`},
		{"cors max age zero", func(c *Config) { c.Server.CORS.MaxAge = 0 }, ""},
		{"cors max age negative", func(c *Config) { c.Server.CORS.MaxAge = -time.Second }, "server.cors.max_age: must not be negative"},

		// server.trusted_proxies
		{"proxies CIDR and IPs", func(c *Config) {
			c.Server.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"}
		}, ""},
		{"proxy hostname", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"} }, `server.trusted_proxies[1]: must be an IP address or a CIDR, e.g. "10.0.0.0/8" or "192.0.2.7"`},
		{"proxy bad prefix length", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/33"} }, `server.trusted_proxies[0]: must be an IP address or a CIDR, e.g. "10.0.0.0/8" or "192.0.2.7"`},

		// server timeouts and caps
		{"read header timeout zero", func(c *Config) { c.Server.ReadHeaderTimeout = 0 }, "server.read_header_timeout: must be greater than zero"},
		{"idle timeout negative", func(c *Config) { c.Server.IdleTimeout = -1 }, "server.idle_timeout: must be greater than zero"},
		{"shutdown timeout zero", func(c *Config) { c.Server.ShutdownTimeout = 0 }, "server.shutdown_timeout: must be greater than zero"},
		{"max header bytes at minimum", func(c *Config) { c.Server.MaxHeaderBytes = 4 << 10 }, ""},
		{"max header bytes below minimum", func(c *Config) { c.Server.MaxHeaderBytes = 4<<10 - 1 }, "server.max_header_bytes: must be at least 4KiB"},
		{"max control body at minimum", func(c *Config) { c.Server.MaxControlBody = 1 << 10 }, ""},
		{"max control body below minimum", func(c *Config) { c.Server.MaxControlBody = 1000 }, "server.max_control_body: must be at least 1KiB"},

		// server: slow clients, connection caps, TLS
		{"edge keys off", func(c *Config) {
			c.Server.BodyIdleTimeout, c.Server.BodyMinRate, c.Server.WriteIdleTimeout = 0, 0, 0
			c.Server.MaxConnsPerClient, c.Server.MaxConns = 0, 0
		}, ""},
		{"body idle timeout negative", func(c *Config) { c.Server.BodyIdleTimeout = -time.Second }, "server.body_idle_timeout: must not be negative"},
		{"write idle timeout negative", func(c *Config) { c.Server.WriteIdleTimeout = -time.Second }, "server.write_idle_timeout: must not be negative"},
		{"body min rate negative", func(c *Config) { c.Server.BodyMinRate = -1 }, "server.body_min_rate: must not be negative (0: no minimum)"},
		{"body min rate without its window", func(c *Config) { c.Server.BodyIdleTimeout = 0 },
			"server.body_min_rate: needs server.body_idle_timeout, the window it is averaged over (0 turns both off)"},
		{"body idle timeout alone", func(c *Config) { c.Server.BodyMinRate = 0 }, ""},
		{"max conns per client negative", func(c *Config) { c.Server.MaxConnsPerClient = -1 }, "server.max_conns_per_client: must not be negative (0: no cap)"},
		{"max conns negative", func(c *Config) { c.Server.MaxConns = -1 }, "server.max_conns: must not be negative (0: no cap)"},
		{"per client cap over the total", func(c *Config) { c.Server.MaxConns = 100 }, "server.max_conns_per_client: must not be more than server.max_conns (100)"},
		{"per client cap with no total", func(c *Config) { c.Server.MaxConns, c.Server.MaxConnsPerClient = 0, 100000 }, ""},
		{"tls pair", func(c *Config) { c.Server.TLS = TLS{CertFile: "/etc/gw/cert.pem", KeyFile: "/etc/gw/key.pem"} }, ""},
		{"tls cert without key", func(c *Config) { c.Server.TLS.CertFile = "/etc/gw/cert.pem" }, "server.tls.key_file: is required with server.tls.cert_file"},
		{"tls key without cert", func(c *Config) { c.Server.TLS.KeyFile = "/etc/gw/key.pem" }, "server.tls.cert_file: is required with server.tls.key_file"},

		// redis
		{"redis addr", func(c *Config) { c.Redis.Addr = "redis.internal:6379" }, ""},
		{"redis addr without port", func(c *Config) { c.Redis.Addr = "redis.internal" }, `redis.addr: must be host:port, e.g. "127.0.0.1:6379" (empty: the embedded in-memory store)`},
		{"redis addr URL", func(c *Config) { c.Redis.Addr = "redis://localhost:6379" }, `redis.addr: must be host:port, e.g. "127.0.0.1:6379" (empty: the embedded in-memory store)`},
		{"redis addr port zero", func(c *Config) { c.Redis.Addr = "localhost:0" }, `redis.addr: the port must be a number from 1 to 65535, e.g. "127.0.0.1:6379" (empty: the embedded in-memory store)`},
		{"redis db negative", func(c *Config) { c.Redis.DB = -1 }, "redis.db: must not be negative"},
		{"redis timeout zero", func(c *Config) { c.Redis.Timeout = 0 }, "redis.timeout: must be greater than zero"},
		{"redis pool size negative", func(c *Config) { c.Redis.PoolSize = -1 }, "redis.pool_size: must not be negative (0: the client's default)"},

		// control.tokens
		{"several tokens", func(c *Config) {
			c.Control.Tokens = []string{"a", "b", "ünïcode"}
			c.Server.Listen = "127.0.0.1:8080"
		}, ""},
		{"short token, public listener", func(c *Config) { c.Control.Tokens = []string{"control-token-1"} },
			"control.tokens[0]: must be at least 32 characters when server.listen is not a loopback address (generate one: openssl rand -base64 32)"},
		{"short token, all interfaces", func(c *Config) { c.Control.Tokens = []string{"control-token-1"}; c.Server.Listen = "0.0.0.0:8080" },
			"control.tokens[0]: must be at least 32 characters when server.listen is not a loopback address (generate one: openssl rand -base64 32)"},
		{"short token, loopback", func(c *Config) { c.Control.Tokens = []string{"control-token-1"}; c.Server.Listen = "127.0.0.1:8080" }, ""},
		{"short token, IPv6 loopback", func(c *Config) { c.Control.Tokens = []string{"control-token-1"}; c.Server.Listen = "[::1]:8080" }, ""},
		{"short token, localhost", func(c *Config) { c.Control.Tokens = []string{"control-token-1"}; c.Server.Listen = "localhost:8080" }, ""},
		{"no tokens", func(c *Config) { c.Control.Tokens = nil }, "control.tokens: at least one control token is required"},
		{"empty token", func(c *Config) { c.Control.Tokens = []string{"a", ""}; c.Server.Listen = "127.0.0.1:8080" }, "control.tokens[1]: must not be empty"},
		{"token with space", func(c *Config) { c.Control.Tokens = []string{"a b"} }, "control.tokens[0]: must not contain whitespace or control characters"},
		{"token with newline", func(c *Config) { c.Control.Tokens = []string{"ab\n"} }, "control.tokens[0]: must not contain whitespace or control characters"},
		{"token with NUL", func(c *Config) { c.Control.Tokens = []string{"ab\x00"} }, "control.tokens[0]: must not contain whitespace or control characters"},
		{"token with no-break space", func(c *Config) { c.Control.Tokens = []string{"a\u00a0b"} }, "control.tokens[0]: must not contain whitespace or control characters"},
		{"token invalid UTF-8", func(c *Config) { c.Control.Tokens = []string{"a\xffb"} }, "control.tokens[0]: must be valid UTF-8"},
		{"duplicate token", func(c *Config) { c.Control.Tokens = []string{"a", "b", "a"}; c.Server.Listen = "127.0.0.1:8080" }, "control.tokens[2]: duplicate of control.tokens[0]"},

		// credentials
		{"credential without access key", func(c *Config) { c.Credentials["main"] = Credential{SecretKey: "s"} }, "credentials.main.access_key: is required"},
		{"credential without secret key", func(c *Config) { c.Credentials["main"] = Credential{AccessKey: "a"} }, "credentials.main.secret_key: is required"},
		{"credential with session token", func(c *Config) {
			c.Credentials["main"] = Credential{AccessKey: "a", SecretKey: "s", SessionToken: "t"}
		}, ""},
		{"unused credential is fine", func(c *Config) { c.Credentials["spare"] = Credential{AccessKey: "a", SecretKey: "s"} }, ""},

		// buckets
		{"no buckets", func(c *Config) { c.Buckets = nil }, "buckets: at least one bucket alias is required"},
		{"alias with dots", func(c *Config) { c.Buckets["cdn.assets_v2-eu"] = c.Buckets["s3"] }, ""},
		{"alias of 63 characters", func(c *Config) { c.Buckets[strings.Repeat("a", 63)] = c.Buckets["s3"] }, ""},
		{"alias of 64 characters", func(c *Config) { c.Buckets[strings.Repeat("a", 64)] = c.Buckets["s3"] }, "buckets." + strings.Repeat("a", 64) + `: an alias must be 1 to 63 characters of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or a digit`},
		{"alias starting with a dash", func(c *Config) { c.Buckets["-x"] = c.Buckets["s3"] }, `buckets.-x: an alias must be 1 to 63 characters of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or a digit`},
		{"alias with a slash", func(c *Config) { c.Buckets["a/b"] = c.Buckets["s3"] }, `buckets."a/b": an alias must be 1 to 63 characters of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or a digit`},
		{"unknown driver", func(c *Config) { c.Buckets["s3"] = Bucket{Driver: "S3", Bucket: "b"} }, `buckets.s3.driver: unknown driver "S3": want "s3" or "file"`},
		{"empty driver means s3", func(c *Config) {
			c.Buckets["s3"] = Bucket{Bucket: "b", Region: "r", PartSize: 5 << 20, PartConcurrency: 1, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}
		}, ""},

		// s3 buckets
		{"s3 without bucket", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Bucket = "" }) }, "buckets.s3.bucket: is required: the real bucket name"},
		{"s3 without region", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Region = "" }) }, "buckets.s3.region: must not be empty"},
		{"s3 endpoint", func(c *Config) {
			setBucket(c, "s3", func(b *Bucket) { b.Endpoint = "https://cos.ap-guangzhou.myqcloud.com" })
		}, ""},
		{"s3 endpoint with slash", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Endpoint = "http://127.0.0.1:9000/" }) }, ""},
		{"s3 endpoint with path", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Endpoint = "http://127.0.0.1:9000/minio" }) }, "buckets.s3.endpoint: must not contain a path: give the service's base URL only"},
		{"s3 endpoint without scheme", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Endpoint = "s3.amazonaws.com" }) }, "buckets.s3.endpoint: must be an absolute http or https URL (scheme http or https)"},
		{"s3 endpoint query", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Endpoint = "https://s3.example.com?x=1" }) }, "buckets.s3.endpoint: must not contain a query"},
		{"s3 endpoint user info", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Endpoint = "https://a:b@s3.example.com" }) }, "buckets.s3.endpoint: must not contain user info (user:password@)"},
		{"s3 unknown credential", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Credential = "s3-prd" }) }, `buckets.s3.credential: unknown credential "s3-prd": it must name an entry of credentials`},
		{"s3 default credential chain", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Credential = "" }) }, ""},
		{"s3 part size minimum", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.PartSize = 5 << 20 }) }, ""},
		{"s3 part size maximum", func(c *Config) {
			c.Server.UploadMemory = 5 << 30
			setBucket(c, "s3", func(b *Bucket) { b.PartSize = 5 << 30 })
		}, ""},
		{"upload memory below a part", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.PartSize = 65 << 20 }) },
			`server.upload_memory: must hold at least one part of bucket "s3" (part_size 65MiB)`},
		{"s3 part size too small", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.PartSize = 5<<20 - 1 }) }, "buckets.s3.part_size: must be between 5MiB and 5GiB"},
		{"s3 part size too large", func(c *Config) {
			c.Server.UploadMemory = 6 << 30
			setBucket(c, "s3", func(b *Bucket) { b.PartSize = 5<<30 + 1 })
		}, "buckets.s3.part_size: must be between 5MiB and 5GiB"},
		{"s3 part concurrency 64", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.PartConcurrency = 64 }) }, ""},
		{"s3 part concurrency 0", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.PartConcurrency = 0 }) }, "buckets.s3.part_concurrency: must be between 1 and 64"},
		{"s3 part concurrency 65", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.PartConcurrency = 65 }) }, "buckets.s3.part_concurrency: must be between 1 and 64"},
		{"s3 with root", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.Root = "/srv" }) }, "buckets.s3.root: only valid with driver file"},
		{"s3 with ca file", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.CAFile = "/etc/ca.pem" }) }, ""},
		{"s3 with direct uploads", func(c *Config) { setBucket(c, "s3", func(b *Bucket) { b.DirectUploads = true }) }, ""},

		// file buckets
		{"file without root", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.Root = "" }) }, "buckets.files.root: is required with driver file: the directory to serve"},
		{"file with bucket", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.Bucket = "x" }) }, "buckets.files.bucket: only valid with driver s3"},
		{"file with region", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.Region = "x" }) }, "buckets.files.region: only valid with driver s3"},
		{"file with endpoint", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.Endpoint = "http://x" }) }, "buckets.files.endpoint: only valid with driver s3"},
		{"file with credential", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.Credential = "main" }) }, "buckets.files.credential: only valid with driver s3"},
		{"file with path style", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.ForcePathStyle = true }) }, "buckets.files.force_path_style: only valid with driver s3"},
		{"file with ca file", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.CAFile = "ca.pem" }) }, "buckets.files.ca_file: only valid with driver s3"},
		{"file with direct uploads", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.DirectUploads = true }) }, "buckets.files.direct_uploads: only valid with driver s3"},
		{"file with part size", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.PartSize = 8 << 20 }) }, "buckets.files.part_size: only valid with driver s3"},
		{"file with part concurrency", func(c *Config) { setBucket(c, "files", func(b *Bucket) { b.PartConcurrency = 2 }) }, "buckets.files.part_concurrency: only valid with driver s3"},

		// token
		{"max ttl zero", func(c *Config) { c.Token.MaxTTL = 0 }, "token.max_ttl: must be greater than zero"},
		{"retention zero", func(c *Config) { c.Token.Retention = 0 }, ""},
		{"retention negative", func(c *Config) { c.Token.Retention = -time.Hour }, "token.retention: must not be negative"},

		// callback
		{"workers 1024", func(c *Config) { c.Callback.Workers = 1024 }, ""},
		{"workers 0", func(c *Config) { c.Callback.Workers = 0 }, "callback.workers: must be between 1 and 1024"},
		{"workers 1025", func(c *Config) { c.Callback.Workers = 1025 }, "callback.workers: must be between 1 and 1024"},
		{"janitor interval 0", func(c *Config) { c.Uploads.JanitorInterval = 0 }, "uploads.janitor_interval: must be between 1s and 1h"},
		{"janitor interval 2h", func(c *Config) { c.Uploads.JanitorInterval = 2 * time.Hour }, "uploads.janitor_interval: must be between 1s and 1h"},
		{"tus upload ttl 0", func(c *Config) { c.Tus.UploadTTL = 0 }, "tus.upload_ttl: must be between 1s and 168h"},
		{"tus upload ttl 8 days", func(c *Config) { c.Tus.UploadTTL = 8 * 24 * time.Hour }, "tus.upload_ttl: must be between 1s and 168h"},
		{"callback timeout zero", func(c *Config) { c.Callback.Timeout = 0 }, "callback.timeout: must be greater than zero"},
		{"no retries", func(c *Config) { c.Callback.Retries = nil }, ""},
		{"zero retry delay", func(c *Config) { c.Callback.Retries = []time.Duration{time.Second, 0} }, "callback.retries[1]: must be greater than zero"},
		{"queue size zero", func(c *Config) { c.Callback.QueueSize = 0 }, "callback.queue_size: must be at least 1"},
		{"per host zero", func(c *Config) { c.Callback.PerHost = 0 }, "callback.per_host: must be at least 1"},
		{"raw secret", func(c *Config) { c.Callback.Secret = "any text at all" }, ""},
		{"whsec secret", func(c *Config) { c.Callback.Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }, ""},
		{"whsec secret padded", func(c *Config) { c.Callback.Secret = "whsec_YQ==" }, ""},
		{"whsec secret empty", func(c *Config) { c.Callback.Secret = "whsec_" }, `callback.secret: after "whsec_" must come standard base64 (with padding) of at least one byte`},
		{"whsec secret URL alphabet", func(c *Config) { c.Callback.Secret = "whsec_-_-_" }, `callback.secret: after "whsec_" must come standard base64 (with padding) of at least one byte`},
		{"whsec secret unpadded", func(c *Config) { c.Callback.Secret = "whsec_YQ" }, `callback.secret: after "whsec_" must come standard base64 (with padding) of at least one byte`},
		{"rotation", func(c *Config) {
			c.Callback.Secret = "whsec_bmV3"
			c.Callback.PreviousSecret = "whsec_b2xk"
		}, ""},
		{"previous secret invalid", func(c *Config) {
			c.Callback.Secret = "new"
			c.Callback.PreviousSecret = "whsec_!"
		}, `callback.previous_secret: after "whsec_" must come standard base64 (with padding) of at least one byte`},
		{"previous secret alone", func(c *Config) { c.Callback.PreviousSecret = "old" }, "callback.previous_secret: requires callback.secret (the new secret)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
}

// setBucket changes one alias of c.
func setBucket(c *Config, alias string, f func(*Bucket)) {
	b := c.Buckets[alias]
	f(&b)
	c.Buckets[alias] = b
}

func TestValidateReportsEverything(t *testing.T) {
	c := validConfig()
	c.Server.Listen = ""
	c.Redis.DB = -1
	c.Control.Tokens = nil
	c.Callback.Workers = 0
	err := c.Validate()
	// Every problem, sorted by key path.
	want := "callback.workers: must be between 1 and 1024\n" +
		"control.tokens: at least one control token is required\n" +
		"redis.db: must not be negative\n" +
		`server.listen: is required, e.g. ":8080"`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}

func TestDefaultBucketDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Bucket
		want Bucket
	}{
		{"empty is s3", Bucket{Bucket: "b"}, Bucket{Driver: DriverS3, Bucket: "b", Region: "us-east-1", PartSize: 8 << 20, PartConcurrency: 2, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}},
		{"s3 keeps values", Bucket{Driver: DriverS3, Region: "r", PartSize: 16 << 20, PartConcurrency: 4, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}, Bucket{Driver: DriverS3, Region: "r", PartSize: 16 << 20, PartConcurrency: 4, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}},
		{"file gets no s3 defaults", Bucket{Driver: DriverFile, Root: "/x"}, Bucket{Driver: DriverFile, Root: "/x"}},
		{"unknown driver gets nothing", Bucket{Driver: "ftp"}, Bucket{Driver: "ftp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bucketDefaults(tt.in); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
