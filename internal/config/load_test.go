package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// baseSections make any snippet a valid configuration: validYAML appends each one whose
// top-level key the snippet does not set. The snippet comes first, so its line numbers hold.
var baseSections = []struct{ key, text string }{
	{"server", "server:\n  host: \"https://gw.example.com\"\n"},
	{"control", "control:\n  tokens: [\"control-token-0123456789abcdefghijklmnop\"]\n"},
	{"buckets", "buckets:\n  local:\n    driver: file\n    root: ./data\n"},
}

func validYAML(snippet string) []byte {
	var b strings.Builder
	b.WriteString(snippet)
	for _, s := range baseSections {
		if !regexp.MustCompile(`(?m)^` + s.key + `:`).MatchString(snippet) {
			b.WriteString(s.text)
		}
	}
	return []byte(b.String())
}

// assertProblems checks that err holds exactly the want lines, in any order.
func assertProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want:\n%s", strings.Join(want, "\n"))
	}
	got := strings.Split(err.Error(), "\n")
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("got error:\n%s\nmissing lines:\n%s\nunexpected lines:\n%s",
			err, strings.Join(missing, "\n"), strings.Join(extra, "\n"))
	}
}

func TestParseSeedConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// As written, the seed's 15-character control token on a public listener is refused:
	// that one line is the only problem.
	_, err = Parse(data, mapEnv(nil), "/etc/assetgateway")
	wantShort := "control.tokens[0]: must be at least 32 characters when server.listen is not a loopback address"
	if err == nil || strings.Count(err.Error(), "\n") > 0 || !strings.Contains(err.Error(), wantShort) {
		t.Fatalf("Parse of the seed as written: %v, want only %q", err, wantShort)
	}
	// With a real control token, every key of the seed loads as it says.
	const longToken = "seed-control-token-0123456789abcdefghij"
	cfg, err := Parse(bytes.Replace(data, []byte("control-token-1"), []byte(longToken), 1), mapEnv(nil), "/etc/assetgateway")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Server.Listen = ":8080"
	want.Server.Host = "https://gateway.example.com"
	want.Redis.Addr = "127.0.0.1:6379"
	want.Control.Tokens = []string{longToken}
	want.Credentials = map[string]Credential{
		"s3-prod": {AccessKey: "your-access-key", SecretKey: "your-secret-key"},
	}
	want.Buckets = map[string]Bucket{
		"prod-assets": {
			Driver:          DriverS3,
			Bucket:          "prod-assets",
			Region:          "ap-guangzhou",
			Endpoint:        "https://cos.ap-guangzhou.myqcloud.com",
			Credential:      "s3-prod",
			PartSize:        8 << 20,
			PartConcurrency: 2,
			ResponseTimeout: 20 * time.Second,
			Delivery:        "stream",
			PresignTTL:      30 * time.Second,
		},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("got  %+v\nwant %+v", *cfg, want)
	}
	if cfg.Redis.Embedded() {
		t.Error("Redis.Embedded(): got true, want false")
	}
}

func TestLoadExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "config.yaml.example")
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Server.Listen = "127.0.0.1:8080"
	want.Server.Host = "http://127.0.0.1:8080"
	want.Server.CORS.AllowedOrigins = []string{}
	want.Server.TrustedProxies = []string{}
	want.Redis.Sentinel.Addrs = []string{}
	want.Redis.Cluster.Addrs = []string{}
	want.Control.Tokens = []string{"control-token-1"}
	want.Buckets = map[string]Bucket{"local": {Driver: DriverFile, Root: filepath.Join(dir, "data")}}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("got  %+v\nwant %+v\n(every key in the example must show its default)", *cfg, want)
	}
	if !cfg.Redis.Embedded() {
		t.Error("Redis.Embedded(): got false, want true (the example must run without Redis)")
	}
}

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse(validYAML("buckets:\n  s3:\n    bucket: b\n"), mapEnv(nil), "/base")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Server.Host = "https://gw.example.com"
	want.Control.Tokens = []string{"control-token-0123456789abcdefghijklmnop"}
	want.Buckets = map[string]Bucket{
		"s3": {Driver: DriverS3, Bucket: "b", Region: "us-east-1", PartSize: 8 << 20, PartConcurrency: 2, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("got  %+v\nwant %+v", *cfg, want)
	}
}

func TestParseNullKeepsDefault(t *testing.T) {
	cfg, err := Parse(validYAML(`
server:
  host: "https://gw.example.com"
  listen:
  read_header_timeout: ~
  max_header_bytes: null
redis:
callback:
  retries:
  workers:
`), mapEnv(nil), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	def := Default()
	if cfg.Server.Listen != def.Server.Listen || cfg.Server.ReadHeaderTimeout != def.Server.ReadHeaderTimeout ||
		cfg.Server.MaxHeaderBytes != def.Server.MaxHeaderBytes || cfg.Callback.Workers != def.Callback.Workers ||
		!reflect.DeepEqual(cfg.Callback.Retries, def.Callback.Retries) || !reflect.DeepEqual(cfg.Redis, def.Redis) {
		t.Errorf("got %+v, want the defaults kept for keys without a value", *cfg)
	}
}

func TestParseEmptyRetries(t *testing.T) {
	cfg, err := Parse(validYAML("callback:\n  retries: []\n"), mapEnv(nil), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(cfg.Callback.Retries) != 0 {
		t.Errorf("got retries %v, want none", cfg.Callback.Retries)
	}
}

func TestParseResolvesPaths(t *testing.T) {
	base := filepath.FromSlash("/srv/gateway/conf")
	cfg, err := Parse(validYAML(`
buckets:
  rel:
    driver: file
    root: ./data/../files
  parent:
    driver: file
    root: ../shared
  abs:
    driver: file
    root: /var/lib/assets/
  s3:
    bucket: b
    endpoint: https://minio.internal:9000
    ca_file: certs/ca.pem
  s3abs:
    bucket: b
    ca_file: /etc/ssl/ca.pem
`), mapEnv(nil), base)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct{ name, got, want string }{
		{"relative root", cfg.Buckets["rel"].Root, filepath.Join(base, "files")},
		{"root in the parent directory", cfg.Buckets["parent"].Root, filepath.FromSlash("/srv/gateway/shared")},
		{"absolute root untouched", cfg.Buckets["abs"].Root, "/var/lib/assets/"},
		{"relative ca_file", cfg.Buckets["s3"].CAFile, filepath.Join(base, "certs", "ca.pem")},
		{"absolute ca_file", cfg.Buckets["s3abs"].CAFile, "/etc/ssl/ca.pem"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadResolvesRootAgainstConfigDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{"gateway.yaml": string(validYAML(""))})
	t.Chdir(t.TempDir()) // the working directory must not matter
	cfg, err := Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.Buckets["local"].Root, filepath.Join(dir, "data"); got != want {
		t.Errorf("got root %q, want %q", got, want)
	}
}

func TestParseManyMistakes(t *testing.T) {
	doc := `server:
  lisen: ":8080"
  listen: "localhost"
  host: "ftp://gw.example.com/?x=1"
  cors:
    allowed_origins: ["https://app.example.com/", "*", "HTTPS://App.example.com"]
    max_age: -1s
  trusted_proxies: ["10.0.0.0/8", "10.0.0.0/33", "192.0.2.7"]
  read_header_timeout: 10
  idle_timeout: 0s
  max_header_bytes: 1KiB
  max_control_body: 100
redis:
  addr: "localhost"
  db: -1
  timeout: "soon"
  pool_size: many
control:
  tokens: ["a", "b c", "a", ""]
credentials:
  s3-prod:
    access_key: ""
    secret: "x"
buckets:
  prod-assets:
    bucket: ""
    endpoint: "https://cos.ap-guangzhou.myqcloud.com/path"
    credential: "s3-prd"
    part_size: 1MiB
    part_concurrency: 100
    root: ./x
  files:
    driver: file
    region: us-east-1
    force_path_style: true
  "bad alias!":
    driver: ftp
  "bad alias!":
    driver: s3
token:
  max_ttl: 0s
  retention: -1h
callback:
  workers: 0
  timeout: 1
  retries: [5s, 0s]
  queue_size: 0
  per_host: 0
  secret: ""
  previous_secret: "whsec_***"
  allow_private: maybe
`
	_, err := Parse([]byte(doc), mapEnv(nil), "/base")
	assertProblems(t, err,
		`server.lisen: unknown key (line 2), did you mean "listen"?`,
		"control.tokens[0]: must be at least 32 characters when server.listen is not a loopback address (generate one: openssl rand -base64 32) (line 19)",
		"control.tokens[2]: must be at least 32 characters when server.listen is not a loopback address (generate one: openssl rand -base64 32) (line 19)",
		`server.listen: must be host:port, e.g. ":8080" or "127.0.0.1:8080" (line 3)`,
		`server.host: must be an absolute http or https URL (scheme http or https) (line 4)`,
		`server.cors.allowed_origins[0]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com", without a trailing slash (line 6)`,
		`server.cors.allowed_origins[2]: must be "*" or an origin scheme://host[:port], e.g. "https://app.example.com", in lowercase, as browsers send it (line 6)`,
		`server.cors.max_age: must not be negative (line 7)`,
		`server.trusted_proxies[1]: must be an IP address or a CIDR, e.g. "10.0.0.0/8" or "192.0.2.7" (line 8)`,
		`server.read_header_timeout: a bare number is not a duration: use a unit, e.g. "5s" (line 9)`,
		`server.idle_timeout: must be greater than zero (line 10)`,
		`server.max_header_bytes: must be at least 4KiB (line 11)`,
		`server.max_control_body: must be at least 1KiB (line 12)`,
		`redis.addr: must be host:port, e.g. "127.0.0.1:6379" (empty: the embedded in-memory store) (line 14)`,
		`redis.db: must not be negative (line 15)`,
		`redis.timeout: must be a duration: a number with a unit (ns, us, ms, s, m, h), e.g. "5s", "1m30s" or "168h" (line 16)`,
		`redis.pool_size: must be an integer, got a string (line 17)`,
		`control.tokens[1]: must not contain whitespace or control characters (line 19)`,
		`control.tokens[2]: duplicate of control.tokens[0] (line 19)`,
		`control.tokens[3]: must not be empty (line 19)`,
		`credentials.s3-prod.access_key: is required (line 22)`,
		`credentials.s3-prod.secret: unknown key (line 23), did you mean "secret_key"?`,
		`credentials.s3-prod.secret_key: is required`,
		`buckets.prod-assets.bucket: is required: the real bucket name (line 26)`,
		`buckets.prod-assets.endpoint: must not contain a path: give the service's base URL only (line 27)`,
		`buckets.prod-assets.credential: unknown credential "s3-prd": it must name an entry of credentials (line 28)`,
		`buckets.prod-assets.part_size: must be between 5MiB and 5GiB (line 29)`,
		`buckets.prod-assets.part_concurrency: must be between 1 and 64 (line 30)`,
		`buckets.prod-assets.root: only valid with driver file (line 31)`,
		`buckets.files.root: is required with driver file: the directory to serve`,
		`buckets.files.region: only valid with driver s3 (line 34)`,
		`buckets.files.force_path_style: only valid with driver s3 (line 35)`,
		`buckets."bad alias!": an alias must be 1 to 63 characters of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or a digit (line 37)`,
		`buckets."bad alias!".driver: unknown driver "ftp": want "s3" or "file" (line 37)`,
		`buckets."bad alias!": duplicate key (first at line 36) (line 38)`,
		`token.max_ttl: must be greater than zero (line 41)`,
		`token.retention: must not be negative (line 42)`,
		`callback.workers: must be between 1 and 1024 (line 44)`,
		`callback.timeout: a bare number is not a duration: use a unit, e.g. "5s" (line 45)`,
		`callback.retries[1]: must be greater than zero (line 46)`,
		`callback.queue_size: must be at least 1 (line 47)`,
		`callback.per_host: must be at least 1 (line 48)`,
		`callback.previous_secret: after "whsec_" must come standard base64 (with padding) of at least one byte (line 50)`,
		`callback.previous_secret: requires callback.secret (the new secret) (line 50)`,
		`callback.allow_private: must be true or false, got a string (line 51)`,
	)
}

func TestParseProblemsAreSorted(t *testing.T) {
	_, err := Parse([]byte(`
token: {max_ttl: 0s}
callback: {retries: [1s, 0s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 0s]}
server: {host: "", idle_timeout: 0s}
buckets: {}
control: {tokens: []}
`), mapEnv(nil), "")
	if err == nil {
		t.Fatal("got nil error, want problems")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		"buckets: at least one bucket alias is required (line 5)",
		"callback.retries[1]: must be greater than zero (line 3)",
		"callback.retries[10]: must be greater than zero (line 3)",
		"control.tokens: at least one control token is required (line 6)",
		`server.host: is required: the public base URL, e.g. "https://gateway.example.com" (line 4)`,
		"server.idle_timeout: must be greater than zero (line 4)",
		"token.max_ttl: must be greater than zero (line 2)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The same input always gives the same text.
	_, again := Parse([]byte(`
token: {max_ttl: 0s}
callback: {retries: [1s, 0s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s, 0s]}
server: {host: "", idle_timeout: 0s}
buckets: {}
control: {tokens: []}
`), mapEnv(nil), "")
	if again.Error() != err.Error() {
		t.Errorf("second Parse: got\n%v\nwant\n%v", again, err)
	}
}

func TestParseUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"top level", "sever:\n  listen: x\n", `sever: unknown key (line 1), did you mean "server"?`},
		{"top level, no suggestion", "database: {}\n", `database: unknown key (line 1)`},
		{"server", "server:\n  host: https://gw.example.com\n  lisen: x\n", `server.lisen: unknown key (line 3), did you mean "listen"?`},
		{"server.cors", "server:\n  host: https://gw.example.com\n  cors:\n    origins: []\n", `server.cors.origins: unknown key (line 4)`},
		{"redis", "redis:\n  adr: x\n", `redis.adr: unknown key (line 2), did you mean "addr"?`},
		{"control", "control:\n  tokens: [control-token-0123456789abcdefghijklmnop]\n  token: b\n", `control.token: unknown key (line 3), did you mean "tokens"?`},
		{"credential field", "credentials:\n  c:\n    access_key: a\n    secret_key: b\n    acces_key: a\n", `credentials.c.acces_key: unknown key (line 5), did you mean "access_key"?`},
		{"bucket field", "buckets:\n  local:\n    driver: file\n    root: x\n    rot: y\n", `buckets.local.rot: unknown key (line 5), did you mean "root"?`},
		{"token", "token:\n  ttl: 1h\n", `token.ttl: unknown key (line 2)`},
		{"callback", "callback:\n  worker: 3\n", `callback.worker: unknown key (line 2), did you mean "workers"?`},
		{"key needing quotes", "redis:\n  \"a b\": 1\n", `redis."a b": unknown key (line 2)`},
		{"merged unknown key", "x: &x {colour: red}\nredis:\n  <<: *x\n", `redis.colour: unknown key (line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := validYAML(tt.yaml)
			_, err := Parse(doc, mapEnv(nil), "")
			var want []string
			if tt.name == "merged unknown key" {
				want = append(want, "x: unknown key (line 1)")
			}
			assertProblems(t, err, append(want, tt.want)...)
		})
	}
}

func TestParseDuplicateKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"top level", "redis: {}\nredis: {}\n", "redis: duplicate key (first at line 1) (line 2)"},
		{"nested", "redis:\n  db: 1\n  db: 2\n", "redis.db: duplicate key (first at line 2) (line 3)"},
		{"credential name", "credentials:\n  c: {access_key: a, secret_key: b}\n  c: {access_key: a, secret_key: b}\n", "credentials.c: duplicate key (first at line 2) (line 3)"},
		{"bucket field", "buckets:\n  local:\n    driver: file\n    root: a\n    root: b\n", "buckets.local.root: duplicate key (first at line 4) (line 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(validYAML(tt.yaml), mapEnv(nil), "")
			assertProblems(t, err, tt.want)
		})
	}
}

func TestParseTypeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"string for int", "redis:\n  db: zero\n", "redis.db: must be an integer, got a string (line 2)"},
		{"float for int", "redis:\n  db: 1.5\n", "redis.db: must be an integer, got a number (line 2)"},
		{"quoted number for int", "redis:\n  db: \"1\"\n", "redis.db: must be an integer, got a string (line 2)"},
		{"int overflow", "redis:\n  db: 99999999999999999999\n", "redis.db: must be an integer, got a number (line 2)"},
		{"list for string", "redis:\n  addr: [a, b]\n", "redis.addr: must be a string, got a list (line 2)"},
		{"mapping for string", "redis:\n  password: {a: b}\n", "redis.password: must be a string, got a mapping (line 2)"},
		{"string for list", "control:\n  tokens: abc\n", "control.tokens: must be a list, got a string (line 2)"},
		{"mapping for list", "server:\n  host: https://gw.example.com\n  trusted_proxies: {a: b}\n", "server.trusted_proxies: must be a list, got a mapping (line 3)"},
		{"list for struct", "redis: [a]\n", "redis: must be a mapping, got a list (line 1)"},
		{"string for map", "credentials: none\n", "credentials: must be a mapping, got a string (line 1)"},
		{"list item of the wrong type", "callback:\n  retries: [1s, [2s]]\n", `callback.retries[1]: must be a duration with a unit, e.g. "5s", got a list (line 2)`},
		{"string for bool", "callback:\n  allow_private: yes\n", "callback.allow_private: must be true or false, got a string (line 2)"},
		{"int for bool", "callback:\n  allow_private: 1\n", "callback.allow_private: must be true or false, got a number (line 2)"},
		{"mapping for size", "server:\n  host: https://gw.example.com\n  max_header_bytes: {a: 1}\n", `server.max_header_bytes: must be a size, e.g. 65536 or "64KiB", got a mapping (line 3)`},
		{"bad size", "server:\n  host: https://gw.example.com\n  max_control_body: 2 megabytes\n", `server.max_control_body: must be a size in bytes: a whole number, optionally followed by B, KB, MB, GB, TB (powers of 10) or KiB, MiB, GiB, TiB (powers of 2), e.g. 65536 or "64KiB" (line 3)`},
		{"binary tag for string", "redis:\n  password: !!binary aGVsbG8=\n", `redis.password: must be a string, got a value tagged "!!binary" (line 2)`},
		{"non-scalar key", "redis:\n  ? [a]\n  : b\n", "redis: keys must be strings, got a list (line 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(validYAML(tt.yaml), mapEnv(nil), "")
			assertProblems(t, err, tt.want)
		})
	}
}

func TestParseDurations(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    time.Duration
		wantErr string
	}{
		{name: "seconds", value: "5s", want: 5 * time.Second},
		{name: "compound", value: "1h30m", want: 90 * time.Minute},
		{name: "milliseconds", value: "250ms", want: 250 * time.Millisecond},
		{name: "quoted", value: `"10s"`, want: 10 * time.Second},
		{name: "bare zero", value: "0", want: 0},
		{name: "zero with unit", value: "0s", want: 0},
		{name: "bare integer", value: "5", wantErr: `a bare number is not a duration: use a unit, e.g. "5s"`},
		{name: "bare float", value: "1.5", wantErr: `a bare number is not a duration: use a unit, e.g. "5s"`},
		{name: "quoted bare integer", value: `"5"`, wantErr: "must be a duration: a number with a unit"},
		{name: "days", value: "7d", wantErr: "must be a duration: a number with a unit"},
		{name: "boolean", value: "true", wantErr: `must be a duration with a unit, e.g. "5s", got a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(validYAML("server:\n  host: https://gw.example.com\n  cors:\n    max_age: "+tt.value+"\n"), mapEnv(nil), "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "server.cors.max_age: "+tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, "server.cors.max_age: "+tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if cfg.Server.CORS.MaxAge != tt.want {
				t.Errorf("got %v, want %v", cfg.Server.CORS.MaxAge, tt.want)
			}
		})
	}
}

func TestParseDocumentErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // substring
	}{
		{"empty", "", "the configuration file is empty"},
		{"blank", "\n\n  \n", "the configuration file is empty"},
		{"comments only", "# nothing\n# here\n", "the configuration file is empty"},
		{"bare document marker", "---\n", "the configuration file is empty"},
		{"list", "- a\n- b\n", "the document must be a mapping of keys (server, buckets, ...), got a list (line 1)"},
		{"scalar", "hello\n", "the document must be a mapping of keys (server, buckets, ...), got a string (line 1)"},
		{"syntax error", "server:\n  listen: [\n", "invalid YAML: line 2"},
		{"tab indentation", "server:\n\tlisten: x\n", "invalid YAML: line 2"},
		{"two documents", "redis: {}\n---\nredis: {}\n", "more than one YAML document"},
		{"unknown anchor", "redis: *nope\n", "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), mapEnv(nil), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if cfg != nil {
				t.Errorf("got a Config with the error, want nil")
			}
		})
	}
}

func TestParseTrailingEmptyDocument(t *testing.T) {
	if _, err := Parse(append(validYAML(""), "---\n"...), mapEnv(nil), ""); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

func TestParseAnchorsAndMergeKeys(t *testing.T) {
	cfg, err := Parse(validYAML(`
credentials:
  main: &cred {access_key: a, secret_key: b}
  copy: *cred
buckets:
  one: &one
    bucket: one
    credential: main
    region: eu-west-1
    part_concurrency: 4
  two:
    <<: *one
    bucket: two
  three:
    <<: [{region: us-west-2}, *one]
    bucket: three
    part_concurrency: 8
`), mapEnv(nil), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Credentials["copy"]; got.AccessKey != "a" || got.SecretKey != "b" {
		t.Errorf("credentials.copy: got %+v, want the aliased credential", got)
	}
	tests := []struct {
		alias string
		want  Bucket
	}{
		{"two", Bucket{Driver: DriverS3, Bucket: "two", Credential: "main", Region: "eu-west-1", PartSize: 8 << 20, PartConcurrency: 4, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}},
		// The mapping's own keys beat merged ones; the first merged mapping beats the next.
		{"three", Bucket{Driver: DriverS3, Bucket: "three", Credential: "main", Region: "us-west-2", PartSize: 8 << 20, PartConcurrency: 8, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}},
	}
	for _, tt := range tests {
		if got := cfg.Buckets[tt.alias]; got != tt.want {
			t.Errorf("buckets.%s: got %+v, want %+v", tt.alias, got, tt.want)
		}
	}
}

func TestParseAnchorOnUnknownKey(t *testing.T) {
	_, err := Parse(validYAML("s3-defaults: &s3 {region: eu-west-1}\nbuckets:\n  b: {<<: *s3, bucket: b}\n"), mapEnv(nil), "")
	assertProblems(t, err, "s3-defaults: unknown key (line 1)")
}

func TestParseSelfMerge(t *testing.T) {
	_, err := Parse(validYAML("redis: &r\n  db: 1\n  <<: *r\n"), mapEnv(nil), "")
	assertProblems(t, err, `redis."<<": a mapping cannot merge itself (line 3)`)
}

func TestParseRejectsTilde(t *testing.T) {
	_, err := Parse(validYAML("buckets:\n  home:\n    driver: file\n    root: ~/assets\n"), mapEnv(nil), "/base")
	assertProblems(t, err, `buckets.home.root: "~" is not expanded: write ${HOME} or an absolute path (line 4)`)
}

func TestParseFileBucketGetsNoS3Defaults(t *testing.T) {
	cfg, err := Parse(validYAML(""), mapEnv(nil), "/base")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got := cfg.Buckets["local"]
	want := Bucket{Driver: DriverFile, Root: filepath.Join("/base", "data")}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestSecretsNeverInErrors feeds configurations full of mistakes whose secrets are
// distinctive strings, and checks that no secret reaches the error text.
func TestSecretsNeverInErrors(t *testing.T) {
	secrets := []string{
		"SECRETctrlA", "SECRETctrlB", "SECRETaccess", "SECRETsecret", "SECRETsession",
		"SECRETredis", "SECRETuser", "SECRETcb", "SECRETprev", "SECRETenv", "SECRETdotenv",
		"SECRETurl", "SECRETendpoint",
	}
	dir := writeFiles(t, map[string]string{
		".env": "AG_SECRET_ENV=SECRETenv\n" +
			"SECRETdotenv\n" + // malformed: no "="
			"AG_BROKEN=\"SECRETdotenv\n",
		"config.yaml": `server:
  listen: "SECRETurl"
  host: "https://user:SECRETurl@gw.example.com/?k=SECRETurl"
  cors:
    allowed_origins: ["https://SECRETurl@x.example.com/path"]
  trusted_proxies: ["SECRETurl"]
redis:
  addr: "redis://:SECRETredis@localhost:6379/0"
  password: ["SECRETredis"]
  username: {SECRETuser: 1}
  db: ${AG_SECRET_ENV}
control:
  tokens: ["SECRETctrlA with space", "SECRETctrlA with space", "SECRETctrlB\u0007", 42]
credentials:
  main:
    access_key: "SECRETaccess"
    secret_key: ""
    session_token: ["SECRETsession"]
buckets:
  b:
    bucket: "x"
    endpoint: "https://key:SECRETendpoint@s3.example.com/path?x=SECRETendpoint"
    credential: "unknown"
    part_size: "SECRETsecret"
  f:
    driver: file
    root: "./x"
    credential: main
callback:
  secret: "whsec_SECRETcb!"
  previous_secret: "whsec_SECRETprev"
  retries: ["SECRETcb"]
  workers: "SECRETcb"
`,
	})
	_, err := Load(filepath.Join(dir, "config.yaml"))
	if err == nil {
		t.Fatal("got nil error, want problems")
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error text contains the secret %q:\n%v", s, err)
		}
	}
	// The mistakes are still reported, by key path.
	for _, path := range []string{
		"server.listen:", "server.host:", "server.cors.allowed_origins[0]:", "server.trusted_proxies[0]:",
		"redis.addr:", "redis.password:", "redis.username:", "redis.db:",
		"control.tokens[0]:", "control.tokens[1]:", "control.tokens[2]:",
		"credentials.main.secret_key:", "credentials.main.session_token:",
		"buckets.b.endpoint:", "buckets.b.credential:", "buckets.b.part_size:", "buckets.f.credential:",
		"callback.secret:", "callback.previous_secret:", "callback.retries[0]:", "callback.workers:",
		"line 2: expected KEY=VALUE", "line 3: unterminated double quote",
	} {
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error text lacks %q:\n%v", path, err)
		}
	}
}

// TestParseMergeChainIsLinear guards against a "billion laughs" through merge keys: each
// anchor merges the previous one twice, so an unmemoised walk would take 2^40 steps.
func TestParseMergeChainIsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("buckets:\n  m0: &m0 {bucket: b, region: r}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "  m%d: &m%d {<<: [*m%d, *m%d]}\n", i, i, i-1, i-1)
	}
	cfg, err := Parse(validYAML(b.String()), mapEnv(nil), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Buckets["m40"]; got.Bucket != "b" || got.Region != "r" {
		t.Errorf("buckets.m40: got %+v, want bucket b in region r", got)
	}
}

// TestExampleConfigCommentedExamples uncomments the example's commented-out credentials and
// bucket aliases (AWS S3, COS, MinIO) and checks that they are valid too.
func TestExampleConfigCommentedExamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config.yaml.example"))
	if err != nil {
		t.Fatal(err)
	}
	commentedKey := regexp.MustCompile(`(?m)^(\s*)# ( *[a-z0-9_-]+:.*)$`)
	uncommented := commentedKey.ReplaceAll(data, []byte("$1$2"))
	env := mapEnv(map[string]string{"S3_ACCESS_KEY": "AKIAEXAMPLE", "S3_SECRET_KEY": "secret"})
	cfg, err := Parse(uncommented, env, "/etc/assetgateway")
	if err != nil {
		t.Fatalf("Parse (uncommented example):\n%s\nerror: %v", uncommented, err)
	}
	if got, want := cfg.Credentials["s3-prod"], (Credential{AccessKey: "AKIAEXAMPLE", SecretKey: "secret"}); got != want {
		t.Errorf("credentials.s3-prod: got %+v, want %+v", got, want)
	}
	tests := []struct {
		alias string
		want  Bucket
	}{
		{"local", Bucket{Driver: DriverFile, Root: filepath.Join("/etc/assetgateway", "data")}},
		{"prod-assets", Bucket{Driver: DriverS3, Bucket: "my-bucket", Region: "eu-west-1", Credential: "s3-prod", PartSize: 8 << 20, PartConcurrency: 2, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}},
		{"cos-assets", Bucket{Driver: DriverS3, Bucket: "prod-assets-1250000000", Region: "ap-guangzhou", Endpoint: "https://cos.ap-guangzhou.myqcloud.com", Credential: "s3-prod", PartSize: 8 << 20, PartConcurrency: 2, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}},
		{"minio", Bucket{Driver: DriverS3, Bucket: "assets", Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", Credential: "s3-prod", ForcePathStyle: true, PartSize: 8 << 20, PartConcurrency: 2, ResponseTimeout: 20 * time.Second, Delivery: "stream", PresignTTL: 30 * time.Second}},
	}
	if len(cfg.Buckets) != len(tests) {
		t.Errorf("got %d bucket aliases, want %d", len(cfg.Buckets), len(tests))
	}
	for _, tt := range tests {
		if got := cfg.Buckets[tt.alias]; got != tt.want {
			t.Errorf("buckets.%s: got %+v, want %+v", tt.alias, got, tt.want)
		}
	}
}
