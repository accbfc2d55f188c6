package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits checked by Validate.
const (
	minMaxHeaderBytes  = 4 * kib
	minMaxControlBody  = 1 * kib
	minPartSize        = 5 * mib
	maxPartSize        = 5 * gib
	maxPartConcurrency = 64
	maxCallbackWorkers = 1024
)

// aliasPattern is the shape of a bucket alias.
var aliasPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Validate checks every rule of the configuration and reports every violation at once, joined
// with errors.Join, one "key.path: message" per problem, sorted by key path. It does no I/O
// (files such as a bucket root or a CA bundle are opened by the parts that use them), and it
// never repeats a secret (control tokens, keys, passwords, callback secrets) in a message.
//
// Validate checks c as it is: Parse applies the per-alias defaults before calling it, so an
// alias built in code with an empty Driver is checked as driver s3.
func (c *Config) Validate() error {
	if c == nil {
		return errors.New("config: nil Config")
	}
	return c.check().err()
}

// check lists every violated rule.
func (c *Config) check() problems {
	var ps problems
	c.Server.check(&ps)
	c.Redis.check(&ps)
	checkTokens(&ps, c.Control.Tokens, loopbackOnly(c.Server.Listen))
	for _, name := range slices.Sorted(maps.Keys(c.Credentials)) {
		c.Credentials[name].check(&ps, joinPath("credentials", name), name)
	}
	if len(c.Buckets) == 0 {
		ps.add("buckets", 0, "at least one bucket alias is required")
	}
	for _, alias := range slices.Sorted(maps.Keys(c.Buckets)) {
		b := c.Buckets[alias]
		b.check(&ps, joinPath("buckets", alias), alias, c.Credentials)
		if b.Driver == DriverS3 && b.PartSize > c.Server.UploadMemory {
			ps.add("server.upload_memory", 0, "must hold at least one part of bucket %q (part_size %s)", alias, b.PartSize)
		}
	}
	positive(&ps, "token.max_ttl", c.Token.MaxTTL)
	notNegative(&ps, "token.retention", c.Token.Retention)
	c.Callback.check(&ps)
	between(&ps, "uploads.janitor_interval", c.Uploads.JanitorInterval, time.Second, time.Hour)
	between(&ps, "tus.upload_ttl", c.Tus.UploadTTL, time.Second, 7*24*time.Hour)
	c.S3API.check(&ps, c.Server.Listen)
	return ps
}

func between(ps *problems, path string, d, lo, hi time.Duration) {
	short := func(d time.Duration) string { // "1h", not "1h0m0s"
		return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
	}
	if d < lo || d > hi {
		ps.add(path, 0, "must be between %s and %s", short(lo), short(hi))
	}
}

func (s *Server) check(ps *problems) {
	if s.Listen == "" {
		ps.add("server.listen", 0, `is required, e.g. ":8080"`)
	} else if msg := checkHostPort(s.Listen, 0); msg != "" {
		ps.add("server.listen", 0, `%s, e.g. ":8080" or "127.0.0.1:8080"`, msg)
	}
	if s.Host == "" {
		ps.add("server.host", 0, `is required: the public base URL, e.g. "https://gateway.example.com"`)
	} else if msg := checkBaseURL(s.Host, true); msg != "" {
		ps.add("server.host", 0, "%s", msg)
	}
	for i, o := range s.CORS.AllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			ps.add(indexPath("server.cors.allowed_origins", i), 0, "%s", msg)
		}
	}
	notNegative(ps, "server.cors.max_age", s.CORS.MaxAge)
	for i, p := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		ps.add(indexPath("server.trusted_proxies", i), 0, `must be an IP address or a CIDR, e.g. "10.0.0.0/8" or "192.0.2.7"`)
	}
	positive(ps, "server.read_header_timeout", s.ReadHeaderTimeout)
	positive(ps, "server.idle_timeout", s.IdleTimeout)
	positive(ps, "server.shutdown_timeout", s.ShutdownTimeout)
	if s.MaxHeaderBytes < minMaxHeaderBytes {
		ps.add("server.max_header_bytes", 0, "must be at least %s", minMaxHeaderBytes)
	}
	if s.MaxControlBody < minMaxControlBody {
		ps.add("server.max_control_body", 0, "must be at least %s", minMaxControlBody)
	}
	if s.RateLimit.PerMinute < 0 {
		ps.add("server.rate_limit.per_minute", 0, "must be 0 (off) or more")
	}
	if s.RateLimit.Burst < 0 {
		ps.add("server.rate_limit.burst", 0, "must be 0 (same as per_minute) or more")
	}
	s.checkEdge(ps)
}

// checkEdge checks the slow-client timeouts, the connection caps and TLS.
func (s *Server) checkEdge(ps *problems) {
	notNegative(ps, "server.body_idle_timeout", s.BodyIdleTimeout)
	notNegative(ps, "server.write_idle_timeout", s.WriteIdleTimeout)
	switch {
	case s.BodyMinRate < 0:
		ps.add("server.body_min_rate", 0, "must not be negative (0: no minimum)")
	case s.BodyMinRate > 0 && s.BodyIdleTimeout == 0:
		ps.add("server.body_min_rate", 0, "needs server.body_idle_timeout, the window it is averaged over (0 turns both off)")
	}
	if s.MaxConnsPerClient < 0 {
		ps.add("server.max_conns_per_client", 0, "must not be negative (0: no cap)")
	}
	if s.MaxConns < 0 {
		ps.add("server.max_conns", 0, "must not be negative (0: no cap)")
	}
	if s.MaxConns > 0 && s.MaxConnsPerClient > s.MaxConns {
		ps.add("server.max_conns_per_client", 0, "must not be more than server.max_conns (%d)", s.MaxConns)
	}
	switch {
	case s.TLS.CertFile != "" && s.TLS.KeyFile == "":
		ps.add("server.tls.key_file", 0, "is required with server.tls.cert_file")
	case s.TLS.CertFile == "" && s.TLS.KeyFile != "":
		ps.add("server.tls.cert_file", 0, "is required with server.tls.key_file")
	}
}

func (r *Redis) check(ps *problems) {
	if r.Addr != "" {
		if msg := checkHostPort(r.Addr, 1); msg != "" {
			ps.add("redis.addr", 0, `%s, e.g. "127.0.0.1:6379" (empty: the embedded in-memory store)`, msg)
		}
	}
	if r.DB < 0 {
		ps.add("redis.db", 0, "must not be negative")
	}
	positive(ps, "redis.timeout", r.Timeout)
	if r.PoolSize < 0 {
		ps.add("redis.pool_size", 0, "must not be negative (0: the client's default)")
	}
	r.Sentinel.check(ps, r.Addr)
	r.checkCluster(ps)
	switch {
	case r.WaitReplicas < 0:
		ps.add("redis.wait_replicas", 0, "must not be negative (0: off)")
	case r.WaitReplicas > 0 && r.Embedded():
		ps.add("redis.wait_replicas", 0, "needs Redis: set redis.addr or redis.sentinel.master_name")
	case r.WaitReplicas > 0 && len(r.Cluster.Addrs) > 0:
		ps.add("redis.wait_replicas", 0, "not supported with a cluster (redis.cluster.addrs): "+
			"WAIT must run on the connection that wrote, which a cluster client cannot pin (every write would answer 503)")
	case r.WaitReplicas > 0:
		positive(ps, "redis.wait_timeout", r.WaitTimeout)
		if r.WaitTimeout > 0 && r.Timeout > 0 && r.WaitTimeout >= r.Timeout {
			ps.add("redis.wait_timeout", 0, "must be shorter than redis.timeout (%s), which bounds every command, WAIT included", r.Timeout)
		}
	default:
		notNegative(ps, "redis.wait_timeout", r.WaitTimeout)
	}
}

// checkCluster checks redis.cluster.addrs and the keys that conflict with it.
func (r *Redis) checkCluster(ps *problems) {
	if len(r.Cluster.Addrs) == 0 {
		return
	}
	for i, a := range r.Cluster.Addrs {
		if msg := checkHostPort(a, 1); msg != "" {
			ps.add(indexPath("redis.cluster.addrs", i), 0, `%s, e.g. "10.0.0.5:6379"`, msg)
		}
	}
	if r.Addr != "" {
		ps.add("redis.addr", 0, "must be empty when redis.cluster.addrs is set: the cluster's nodes are found from the seed list")
	}
	if r.Sentinel.MasterName != "" {
		ps.add("redis.sentinel.master_name", 0, "must be empty when redis.cluster.addrs is set: use Sentinel or Cluster, not both")
	}
	if r.DB > 0 {
		ps.add("redis.db", 0, "must be 0 with redis.cluster.addrs: Redis Cluster has only database 0")
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		// "{x}" would put every key in one slot; "{}" would split a token's keys over slots.
		ps.add("redis.key_prefix", 0, `must not contain "{" or "}" with redis.cluster.addrs: `+
			"the gateway's own {…} hash tags place each token's keys in one slot")
	}
}

func (s *RedisSentinel) check(ps *problems, addr string) {
	if s.MasterName == "" {
		if len(s.Addrs) > 0 {
			ps.add("redis.sentinel.addrs", 0, "needs redis.sentinel.master_name")
		}
		if s.Password != "" {
			ps.add("redis.sentinel.password", 0, "needs redis.sentinel.master_name")
		}
		return
	}
	if strings.IndexFunc(s.MasterName, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 ||
		!utf8.ValidString(s.MasterName) {
		ps.add("redis.sentinel.master_name", 0, "must not contain whitespace or control characters")
	}
	if addr != "" {
		ps.add("redis.addr", 0, "must be empty when redis.sentinel.master_name is set: the sentinels name the primary")
	}
	if len(s.Addrs) == 0 {
		ps.add("redis.sentinel.addrs", 0, `at least one sentinel is required with redis.sentinel.master_name, e.g. ["10.0.0.5:26379"]`)
	}
	for i, a := range s.Addrs {
		if msg := checkHostPort(a, 1); msg != "" {
			ps.add(indexPath("redis.sentinel.addrs", i), 0, `%s, e.g. "10.0.0.5:26379"`, msg)
		}
	}
}

// MinControlTokenLength is the shortest control token accepted when the gateway listens
// beyond loopback: 32 characters of a random alphabet are far beyond guessing, even for a
// client the brute-force limiter lets try about once a second for years.
const MinControlTokenLength = 32

// checkTokens vets the control tokens. Short ones (a test value, a password) are refused
// unless only this machine can reach the listener.
func checkTokens(ps *problems, tokens []string, loopback bool) {
	if len(tokens) == 0 {
		ps.add("control.tokens", 0, "at least one control token is required")
		return
	}
	first := make(map[string]int, len(tokens))
	for i, t := range tokens {
		path := indexPath("control.tokens", i)
		switch {
		case t == "":
			ps.add(path, 0, "must not be empty")
		case !utf8.ValidString(t):
			ps.add(path, 0, "must be valid UTF-8")
		case strings.IndexFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			ps.add(path, 0, "must not contain whitespace or control characters")
		case !loopback && utf8.RuneCountInString(t) < MinControlTokenLength:
			ps.add(path, 0, "must be at least %d characters when server.listen is not a loopback address "+
				"(generate one: openssl rand -base64 32)", MinControlTokenLength)
		}
		if j, dup := first[t]; dup {
			ps.add(path, 0, "duplicate of control.tokens[%d]", j)
		} else {
			first[t] = i
		}
	}
}

func (cr Credential) check(ps *problems, path, name string) {
	if name == "" {
		ps.add(path, 0, "a credential name must not be empty")
	}
	if cr.AccessKey == "" {
		ps.add(path+".access_key", 0, "is required")
	}
	if cr.SecretKey == "" {
		ps.add(path+".secret_key", 0, "is required")
	}
}

func (b Bucket) check(ps *problems, path, alias string, creds map[string]Credential) {
	if !aliasPattern.MatchString(alias) {
		ps.add(path, 0, `an alias must be 1 to 63 characters of A-Z, a-z, 0-9, ".", "_" and "-", `+
			`starting with a letter or a digit`)
	}
	switch b.Driver {
	case DriverS3, "":
		b.checkS3(ps, path, creds)
	case DriverFile:
		b.checkFile(ps, path)
	default:
		ps.add(path+".driver", 0, "unknown driver %q: want %q or %q", b.Driver, DriverS3, DriverFile)
	}
}

func (b Bucket) checkS3(ps *problems, path string, creds map[string]Credential) {
	if b.Bucket == "" {
		ps.add(path+".bucket", 0, "is required: the real bucket name")
	}
	if b.Region == "" {
		ps.add(path+".region", 0, "must not be empty")
	}
	if b.Endpoint != "" {
		if msg := checkBaseURL(b.Endpoint, false); msg != "" {
			ps.add(path+".endpoint", 0, "%s", msg)
		}
	}
	if b.Credential != "" {
		if _, ok := creds[b.Credential]; !ok {
			ps.add(path+".credential", 0, "unknown credential %q: it must name an entry of credentials", b.Credential)
		}
	}
	if b.PartSize < minPartSize || b.PartSize > maxPartSize {
		ps.add(path+".part_size", 0, "must be between %s and %s", minPartSize, maxPartSize)
	}
	if b.PartConcurrency < 1 || b.PartConcurrency > maxPartConcurrency {
		ps.add(path+".part_concurrency", 0, "must be between 1 and %d", maxPartConcurrency)
	}
	positive(ps, path+".response_timeout", b.ResponseTimeout)
	if b.Delivery != "stream" && b.Delivery != "redirect" {
		ps.add(path+".delivery", 0, `must be "stream" or "redirect"`)
	}
	if b.PresignTTL < time.Second || b.PresignTTL > 7*24*time.Hour {
		ps.add(path+".presign_ttl", 0, "must be between 1s and 168h (SigV4's limit)")
	}
	if b.Root != "" {
		ps.add(path+".root", 0, "only valid with driver %s", DriverFile)
	}
}

func (b Bucket) checkFile(ps *problems, path string) {
	if b.Root == "" {
		ps.add(path+".root", 0, "is required with driver %s: the directory to serve", DriverFile)
	}
	for _, k := range []struct {
		key string
		set bool
	}{
		{"bucket", b.Bucket != ""},
		{"region", b.Region != ""},
		{"endpoint", b.Endpoint != ""},
		{"credential", b.Credential != ""},
		{"force_path_style", b.ForcePathStyle},
		{"ca_file", b.CAFile != ""},
		{"part_size", b.PartSize != 0},
		{"part_concurrency", b.PartConcurrency != 0},
		{"response_timeout", b.ResponseTimeout != 0},
		{"delivery", b.Delivery != ""},
		{"presign_ttl", b.PresignTTL != 0},
		{"direct_uploads", b.DirectUploads},
	} {
		if k.set {
			ps.add(path+"."+k.key, 0, "only valid with driver %s", DriverS3)
		}
	}
}

func (cb *Callback) check(ps *problems) {
	if cb.Workers < 1 || cb.Workers > maxCallbackWorkers {
		ps.add("callback.workers", 0, "must be between 1 and %d", maxCallbackWorkers)
	}
	positive(ps, "callback.timeout", cb.Timeout)
	for i, r := range cb.Retries {
		positive(ps, indexPath("callback.retries", i), r)
	}
	if cb.QueueSize < 1 {
		ps.add("callback.queue_size", 0, "must be at least 1")
	}
	if cb.PerHost < 1 {
		ps.add("callback.per_host", 0, "must be at least 1")
	}
	checkSecret(ps, "callback.secret", cb.Secret)
	checkSecret(ps, "callback.previous_secret", cb.PreviousSecret)
	if cb.PreviousSecret != "" && cb.Secret == "" {
		ps.add("callback.previous_secret", 0, "requires callback.secret (the new secret)")
	}
}

// checkSecret checks a webhook secret: raw text, or "whsec_" followed by standard base64 of at
// least one byte.
func checkSecret(ps *problems, path, secret string) {
	rest, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return
	}
	if key, err := base64.StdEncoding.DecodeString(rest); err != nil || len(key) == 0 {
		ps.add(path, 0, `after "whsec_" must come standard base64 (with padding) of at least one byte`)
	}
}

// loopbackOnly reports whether a listen address accepts connections from this machine only
// ("127.0.0.1:8080", "[::1]:8080", "localhost:8080"; not ":8080" or "0.0.0.0:8080").
func loopbackOnly(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func positive(ps *problems, path string, d time.Duration) {
	if d <= 0 {
		ps.add(path, 0, "must be greater than zero")
	}
}

func notNegative(ps *problems, path string, d time.Duration) {
	if d < 0 {
		ps.add(path, 0, "must not be negative")
	}
}

// checkHostPort checks a host:port address whose port is a number from minPort to 65535. It
// returns "" when addr is fine, else a message that does not repeat addr.
func checkHostPort(addr string, minPort int) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "must be host:port"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || int(n) < minPort {
		return fmt.Sprintf("the port must be a number from %d to 65535", minPort)
	}
	return ""
}

// checkBaseURL checks an absolute http(s) URL with a host, without user info, query or
// fragment. A path is allowed when withPath is set, else only "/" is. It returns "" when s is
// fine, else a message that does not repeat s (it may hold a password).
func checkBaseURL(s string, withPath bool) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Opaque != "":
		return "must be an absolute http or https URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an absolute http or https URL (scheme http or https)"
	case u.Host == "" || u.Hostname() == "":
		return "must be an absolute http or https URL with a host"
	case u.User != nil:
		return "must not contain user info (user:password@)"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not contain a query"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not contain a fragment"
	case !withPath && u.Path != "" && u.Path != "/":
		return "must not contain a path: give the service's base URL only"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return "the port must be a number from 1 to 65535"
		}
	}
	return ""
}

// checkOrigin checks one CORS origin: "*" or scheme://host[:port], written as browsers send
// it in the Origin header (lowercase, no default port, no path), since origins are compared
// exactly. It returns "" when o is fine.
func checkOrigin(o string) string {
	if o == "*" {
		return ""
	}
	const want = `must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com"`
	u, err := url.Parse(o)
	switch {
	case err != nil || u.Scheme == "" || u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return want
	case u.User != nil:
		return want + ", without user info"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(o, "#"):
		return want + ", without query or fragment"
	case u.Path == "/":
		return want + ", without a trailing slash"
	case u.Path != "" || u.RawPath != "":
		return want + ", without a path"
	}
	for _, r := range o {
		if r > unicode.MaxASCII {
			return want + `; write an international host in its ASCII "xn--" form`
		}
	}
	if o != strings.ToLower(o) {
		return want + ", in lowercase, as browsers send it"
	}
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		return want + ", without the default port, as browsers send it"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return want + ", with a port from 1 to 65535"
		}
	}
	return ""
}
