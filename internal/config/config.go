// Package config defines AssetGateway's configuration file: its keys, their defaults and the
// rules they must satisfy.
//
// Loading is strict: unknown keys are errors, `${VAR}` references in values are expanded from
// the environment (a `.env` file beside the config file is read first and never overrides a
// variable that is already set), relative paths are resolved against the config file's
// directory, and Validate reports every problem at once, each with its key path. A Config is
// never modified after Load returns it.
package config

import "time"

// Config is the whole configuration file.
type Config struct {
	Server      Server                `yaml:"server"`
	Redis       Redis                 `yaml:"redis"`
	Control     Control               `yaml:"control"`
	Credentials map[string]Credential `yaml:"credentials"`
	Buckets     map[string]Bucket     `yaml:"buckets"`
	Token       Token                 `yaml:"token"`
	Callback    Callback              `yaml:"callback"`
	Uploads     Uploads               `yaml:"uploads"`
	Tus         Tus                   `yaml:"tus"`
	S3API       S3API                 `yaml:"s3api"`
}

// Server configures the HTTP listener.
type Server struct {
	// Listen is the TCP address to listen on, e.g. ":8080".
	Listen string `yaml:"listen"`
	// Host is the public base URL (scheme://host[:port][/path]) used to build every `url` and
	// `status_url` the API returns. A trailing slash is ignored.
	Host string `yaml:"host"`
	// CORS lists the origins whose page scripts may call /object.
	CORS CORS `yaml:"cors"`
	// TrustedProxies are CIDRs (or single IPs) whose X-Forwarded-For header is believed when
	// working out a client's address. Empty: the TCP peer address is always the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ReadHeaderTimeout bounds how long a client may take to send its request headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout bounds how long a keep-alive connection may sit idle between requests.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds graceful shutdown: in-flight requests get this long to finish, and
	// the callback queue as long again to drain.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxHeaderBytes caps the size of request headers; larger requests get 431.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxControlBody caps the JSON body of a control-API request; larger bodies get 413.
	MaxControlBody ByteSize `yaml:"max_control_body"`
	// RateLimit throttles clients that keep failing token checks.
	RateLimit RateLimit `yaml:"rate_limit"`
	// UploadMemory bounds, for the whole process, the memory of buffered parts of uploads of
	// unknown length (chunked) to S3 buckets: uploads wait for a part buffer rather than
	// exceed it. It must hold at least one part of every alias.
	UploadMemory ByteSize `yaml:"upload_memory"`
	// BodyIdleTimeout cuts a request body that makes no progress for this long: 408
	// request_timeout when nothing was answered yet, and the connection is closed. It is
	// also the window BodyMinRate is averaged over. Zero: off (BodyMinRate too).
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// BodyMinRate is the slowest a request body may arrive, in bytes per second, averaged
	// over each BodyIdleTimeout spent waiting for it; a slower body is cut like an idle one.
	// Zero: no minimum.
	BodyMinRate ByteSize `yaml:"body_min_rate"`
	// WriteIdleTimeout cuts a response the client stops reading, after this long without
	// progress (the connection is closed). Zero: off.
	WriteIdleTimeout time.Duration `yaml:"write_idle_timeout"`
	// MaxConnsPerClient caps the open connections of one client address (an IPv4 address,
	// an IPv6 /64); past it new connections are refused at once (plain HTTP: 503
	// too_many_connections). Addresses in TrustedProxies are exempt but count toward
	// MaxConns. Zero: no cap.
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// MaxConns caps the open connections of the process; past it new connections are
	// refused at once. Zero: no cap.
	MaxConns int `yaml:"max_conns"`
	// TLS, when set, serves HTTPS (HTTP/2 and HTTP/1.1) instead of plain HTTP.
	TLS TLS `yaml:"tls"`
}

// TLS is the gateway's own certificate. Both files or neither; relative paths are relative
// to the configuration file. The files are read again when they change (checked at most once
// a second, on new connections), so a renewed certificate needs no restart; a pair that
// fails to load is logged and the previous one kept.
type TLS struct {
	// CertFile is a PEM certificate chain, the server's certificate first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the certificate.
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether HTTPS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// RateLimit bounds how fast one client (an IPv4 address, an IPv6 /64) may fail control-token
// checks (401/403) and object-token lookups (404 token_not_found); past it the client gets
// 429 too_many_requests with Retry-After for everything on those surfaces, a valid token
// included, until its budget refills (so the limiter is no oracle).
type RateLimit struct {
	// PerMinute is the sustained number of failures allowed per client. Zero turns the
	// limiter off (for trusted networks).
	PerMinute int `yaml:"per_minute"`
	// Burst is how many failures a client may make at once. Zero: PerMinute.
	Burst int `yaml:"burst"`
}

// CORS configures cross-origin access to /object.
type CORS struct {
	// AllowedOrigins are exact origins ("https://app.example.com") or "*". Empty: no CORS
	// headers are sent.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxAge is how long a browser may cache a preflight answer. Zero: the browser's default.
	MaxAge time.Duration `yaml:"max_age"`
}

// Redis configures the token store: a single Redis at Addr, the primary that Redis Sentinel
// names (Sentinel.MasterName), or a Redis Cluster (Cluster.Addrs). None of them selects the
// embedded in-memory store.
type Redis struct {
	Addr     string `yaml:"addr"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// DB is the database number; it must be 0 with a cluster (Redis Cluster has only 0).
	DB int `yaml:"db"`
	// KeyPrefix is prepended to every key the gateway writes, so that one Redis can be shared.
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds dialing and every single command; past it the gateway answers
	// 503 store_unavailable.
	Timeout time.Duration `yaml:"timeout"`
	// PoolSize is the maximum number of connections per gateway process (per cluster node
	// with a cluster). Zero: go-redis's default (10 per CPU; 5 per CPU and node with a
	// cluster).
	PoolSize int `yaml:"pool_size"`
	// Sentinel, when MasterName is set, finds the primary through Redis Sentinel (instead of
	// Addr) and follows failovers.
	Sentinel RedisSentinel `yaml:"sentinel"`
	// Cluster, when Addrs is set, uses a Redis Cluster (instead of Addr or Sentinel): every
	// key of one token shares one hash slot, and the webhook queue lives in one slot of its
	// own, so every script runs on a single node.
	Cluster RedisCluster `yaml:"cluster"`
	// WaitReplicas, when positive, makes every write that grants or revokes access (a
	// consumed hit, a new token, a deletion) wait until at least this many replicas have
	// acknowledged it (Redis WAIT). If fewer do within WaitTimeout the request fails closed
	// with 503 store_unavailable and nothing is served, so a failover cannot bring back a
	// hit that was already used. Zero: off (replication is asynchronous).
	//
	// Not supported with a cluster (Validate refuses it): WAIT must run on the connection
	// that wrote, and the cluster client cannot pin one, so every such write would fail
	// closed with 503.
	WaitReplicas int `yaml:"wait_replicas"`
	// WaitTimeout bounds each WAIT; it must be shorter than Timeout. Used only when
	// WaitReplicas is positive.
	WaitTimeout time.Duration `yaml:"wait_timeout"`
}

// RedisSentinel names the primary to use and the sentinels that know where it is.
type RedisSentinel struct {
	// MasterName is the name the sentinels monitor the primary under. Empty: no Sentinel.
	MasterName string `yaml:"master_name"`
	// Addrs are the sentinels' host:port addresses (a seed list; more are discovered).
	Addrs []string `yaml:"addrs"`
	// Password is the sentinels' own password (their requirepass), if any. The primary's
	// password is Redis.Password.
	Password string `yaml:"password"`
}

// RedisCluster lists the seed nodes of a Redis Cluster.
type RedisCluster struct {
	// Addrs are host:port addresses of cluster nodes, primaries or replicas. Any one that
	// answers is enough: the client learns every master and its slots from it, and follows
	// MOVED/ASK redirects when slots move (resharding, failover). Empty: no cluster.
	Addrs []string `yaml:"addrs"`
}

// Embedded reports whether the embedded in-memory token store is selected.
func (r Redis) Embedded() bool {
	return r.Addr == "" && r.Sentinel.MasterName == "" && len(r.Cluster.Addrs) == 0
}

// Control configures the control API.
type Control struct {
	// Tokens are the Bearer tokens accepted by /token. At least one is required.
	Tokens []string `yaml:"tokens"`
}

// Credential is a pair of object-storage keys.
type Credential struct {
	AccessKey    string `yaml:"access_key"`
	SecretKey    string `yaml:"secret_key"`
	SessionToken string `yaml:"session_token"`
}

// Driver names an object backend.
const (
	DriverS3   = "s3"
	DriverFile = "file"
)

// Bucket is one bucket alias. The API only ever names the alias.
type Bucket struct {
	// Driver is "s3" (any S3 API: AWS, COS, MinIO, R2, ...) or "file" (a local directory).
	Driver string `yaml:"driver"`

	// Bucket is the real bucket name (driver s3).
	Bucket string `yaml:"bucket"`
	// Region is the signing region (driver s3). Default "us-east-1".
	Region string `yaml:"region"`
	// Endpoint is the S3 API base URL, e.g. "https://cos.ap-guangzhou.myqcloud.com" or
	// "http://127.0.0.1:9000". Empty: AWS S3's own endpoint for Region.
	Endpoint string `yaml:"endpoint"`
	// Credential names an entry of `credentials`. Empty: the AWS SDK's default chain
	// (environment, shared config, instance role).
	Credential string `yaml:"credential"`
	// ForcePathStyle addresses the bucket as endpoint/bucket/key instead of bucket.endpoint/key.
	ForcePathStyle bool `yaml:"force_path_style"`
	// CAFile is a PEM bundle of extra certificate authorities trusted for Endpoint (a private
	// CA or a self-signed certificate). Empty: the system roots only.
	CAFile string `yaml:"ca_file"`
	// PartSize is the multipart part size for uploads of unknown length (chunked) and for
	// uploads too large for one PutObject. Minimum 5MiB.
	PartSize ByteSize `yaml:"part_size"`
	// PartConcurrency is how many parts of one upload are sent at once. Memory held per upload
	// of unknown length is at most PartSize × (PartConcurrency + 1).
	PartConcurrency int `yaml:"part_concurrency"`
	// ResponseTimeout bounds the wait for the store's response headers once a request is
	// sent (a stalled store answers 502 after at most two such waits for GET and HEAD).
	ResponseTimeout time.Duration `yaml:"response_timeout"`
	// Delivery is the default of the alias's tokens: "stream" (the gateway moves the bytes)
	// or "redirect" (307 to a presigned URL of the bucket; the gateway moves nothing).
	Delivery string `yaml:"delivery"`
	// PresignTTL is how long a presigned URL of a redirect lives, and a presigned part URL
	// or form upload of a direct upload.
	PresignTTL time.Duration `yaml:"presign_ttl"`
	// DirectUploads lets the alias's PUT tokens upload straight to the bucket with Uppy's S3
	// protocol (/uppy/{token}/s3/…, internal/uppy): the gateway presigns each part and small
	// form uploads, so the client sees the bucket's endpoint and the object's key. The bucket
	// needs a CORS rule for the pages' origins that exposes ETag. False: those routes answer
	// 400 for the alias's tokens.
	DirectUploads bool `yaml:"direct_uploads"`

	// Root is the directory served by a "file" alias.
	Root string `yaml:"root"`
}

// Token configures token lifetimes.
type Token struct {
	// MaxTTL is the longest lifetime a token may be given.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// Retention is how long a record stays readable through the control API after expire_at.
	Retention time.Duration `yaml:"retention"`
}

// Uploads configures the upload sessions of resumable uploads (tus), whatever their kind.
type Uploads struct {
	// JanitorInterval is how often every replica ends the uploads that expired or whose token
	// was revoked: their multipart upload is aborted, their temporary objects deleted, their
	// record removed.
	JanitorInterval time.Duration `yaml:"janitor_interval"`
}

// Tus configures tus resumable uploads (/tus/{token}).
type Tus struct {
	// UploadTTL bounds an upload's life: it expires (Upload-Expires) at the earlier of its
	// token's expire_at and its creation plus UploadTTL.
	UploadTTL time.Duration `yaml:"upload_ttl"`
}

// Callback configures webhook delivery.
type Callback struct {
	// Workers is the number of concurrent deliveries per gateway process.
	Workers int `yaml:"workers"`
	// Timeout bounds one delivery attempt (connect, send, response headers and body).
	Timeout time.Duration `yaml:"timeout"`
	// Secret signs every delivery (Standard Webhooks). Either raw text or "whsec_" followed by
	// base64. Empty: deliveries are unsigned.
	Secret string `yaml:"secret"`
	// PreviousSecret, during a rotation, signs every delivery a second time so that receivers
	// still holding the old secret keep verifying. Empty: no second signature.
	PreviousSecret string `yaml:"previous_secret"`
	// Retries are the delays between attempts; after the last one the event is dead-lettered.
	Retries []time.Duration `yaml:"retries"`
	// AllowPrivate allows callback targets on loopback, private and link-local addresses
	// (turns the SSRF guard off).
	AllowPrivate bool `yaml:"allow_private"`
	// QueueSize bounds the events waiting for a worker in one process. When it is full the
	// gateway keeps serving and counts the event as dropped (embedded store) or leaves it in
	// the Redis stream for a later pass.
	QueueSize int `yaml:"queue_size"`
	// PerHost bounds concurrent deliveries to one destination host.
	PerHost int `yaml:"per_host"`
}

// Default returns the configuration every file starts from.
func Default() Config {
	return Config{
		Server: Server{
			Listen:            ":8080",
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
			MaxHeaderBytes:    64 << 10,
			MaxControlBody:    1 << 20,
			RateLimit:         RateLimit{PerMinute: 60, Burst: 60},
			UploadMemory:      64 << 20,
			BodyIdleTimeout:   30 * time.Second,
			BodyMinRate:       1 << 10,
			WriteIdleTimeout:  60 * time.Second,
			MaxConnsPerClient: 256,
			MaxConns:          10000,
		},
		Redis: Redis{
			KeyPrefix:   "ag:",
			Timeout:     time.Second,
			WaitTimeout: 500 * time.Millisecond,
		},
		Token: Token{
			MaxTTL:    168 * time.Hour,
			Retention: 24 * time.Hour,
		},
		Callback: Callback{
			Workers: 8,
			Timeout: 5 * time.Second,
			Retries: []time.Duration{
				5 * time.Second, 5 * time.Minute, 30 * time.Minute,
				2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
			},
			QueueSize: 10000,
			PerHost:   4,
		},
		Uploads: Uploads{JanitorInterval: time.Minute},
		Tus:     Tus{UploadTTL: 24 * time.Hour},
		S3API:   S3API{Region: "us-east-1"},
	}
}

// bucketDefaults fills the per-alias defaults; Load applies it to every alias.
func bucketDefaults(b Bucket) Bucket {
	if b.Driver == "" {
		b.Driver = DriverS3
	}
	if b.Driver == DriverS3 {
		if b.Region == "" {
			b.Region = "us-east-1"
		}
		if b.PartSize == 0 {
			b.PartSize = 8 << 20
		}
		if b.PartConcurrency == 0 {
			b.PartConcurrency = 2
		}
		if b.ResponseTimeout == 0 {
			b.ResponseTimeout = 20 * time.Second
		}
		if b.Delivery == "" {
			b.Delivery = "stream"
		}
		if b.PresignTTL == 0 {
			b.PresignTTL = 30 * time.Second
		}
	}
	return b
}

// ByteSize is a size in bytes. In YAML it is an integer or a string with a unit: "512",
// "64KiB", "1MiB", "5GiB", "10MB" (KB/MB/GB are powers of ten, KiB/MiB/GiB powers of two).
type ByteSize int64
