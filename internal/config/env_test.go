package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mapEnv is a lookupEnv over a fixed map.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestExpandEnv(t *testing.T) {
	env := mapEnv(map[string]string{"HOST": "example.com", "EMPTY": "", "PORT": "8080", "DOLLAR": "a$b${HOST}"})
	tests := []struct {
		name         string
		in           string
		want         string
		wantExpanded bool
		wantProblem  string // substring; "" means none
	}{
		{name: "no reference", in: "plain text", want: "plain text"},
		{name: "whole value", in: "${HOST}", want: "example.com", wantExpanded: true},
		{name: "inside text", in: "https://${HOST}:${PORT}/x", want: "https://example.com:8080/x", wantExpanded: true},
		{name: "set but empty", in: "[${EMPTY}]", want: "[]", wantExpanded: true},
		{name: "default when unset", in: "${NOPE:-fallback}", want: "fallback", wantExpanded: true},
		{name: "default when empty", in: "${EMPTY:-fallback}", want: "fallback", wantExpanded: true},
		{name: "value beats default", in: "${HOST:-fallback}", want: "example.com", wantExpanded: true},
		{name: "empty default", in: "${NOPE:-}", want: "", wantExpanded: true},
		{name: "default is literal", in: "${NOPE:-a:b $x $$}", want: "a:b $x $$", wantExpanded: true},
		{name: "double dollar", in: "pa$$word", want: "pa$word"},
		{name: "escaped reference", in: "$${HOST}", want: "${HOST}"},
		{name: "lone dollar", in: "pa$word", want: "pa$word"},
		{name: "trailing dollar", in: "cost$", want: "cost$"},
		{name: "dollar brace after escape", in: "$$$", want: "$$"},
		{name: "substituted text is not expanded again", in: "${DOLLAR}", want: "a$b${HOST}", wantExpanded: true},
		{name: "unset", in: "x${NOPE}y", wantProblem: "environment variable NOPE is not set"},
		{name: "unterminated", in: "ab${HOST", wantProblem: "unterminated"},
		{name: "bad name", in: "${1X}", wantProblem: "malformed"},
		{name: "empty name", in: "${}", wantProblem: "malformed"},
		{name: "posix default form is not supported", in: "${NOPE-x}", wantProblem: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, expanded, problems := expandEnv(tt.in, env)
			if tt.wantProblem != "" {
				if len(problems) != 1 || !strings.Contains(problems[0], tt.wantProblem) {
					t.Fatalf("got problems %q, want one containing %q", problems, tt.wantProblem)
				}
				return
			}
			if len(problems) > 0 {
				t.Fatalf("got problems %q, want none", problems)
			}
			if got != tt.want || expanded != tt.wantExpanded {
				t.Errorf("got %q (expanded %v), want %q (expanded %v)", got, expanded, tt.want, tt.wantExpanded)
			}
		})
	}
}

func TestExpandEnvReportsEveryUnsetVariable(t *testing.T) {
	_, _, problems := expandEnv("${A}:${B}", mapEnv(nil))
	want := []string{"environment variable A is not set", "environment variable B is not set"}
	if !reflect.DeepEqual(problems, want) {
		t.Errorf("got %q, want %q", problems, want)
	}
}

func TestParseExpandsEnvIntoEveryType(t *testing.T) {
	env := mapEnv(map[string]string{
		"LISTEN":   "0.0.0.0:9090",
		"DB":       "3",
		"TIMEOUT":  "250ms",
		"FPS":      "true",
		"SIZE":     "16MiB",
		"TOKEN":    `tok:#"q"'s-0123456789abcdefghijklmnop`,
		"PREFIX":   "a: b\n# c",
		"PASSWORD": "null",
		"NUMERIC":  "123456",
	})
	doc := validYAML(`
server:
  listen: ${LISTEN}
  host: https://gw.example.com
redis:
  addr: "127.0.0.1:6379"
  db: ${DB}
  pool_size: "${DB}"
  timeout: ${TIMEOUT}
  password: ${PASSWORD}
  username: ${NUMERIC}
  key_prefix: ${PREFIX}
control:
  tokens: ["${TOKEN}"]
buckets:
  s3:
    bucket: b
    force_path_style: ${FPS}
    part_size: ${SIZE}
    part_concurrency: ${UNSET_CONCURRENCY:-4}
    region: ${REGION:-eu-west-1}
`)
	cfg, err := Parse(doc, env, "/base")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	b := cfg.Buckets["s3"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.listen", cfg.Server.Listen, "0.0.0.0:9090"},
		{"redis.db", cfg.Redis.DB, 3},
		{"redis.pool_size (quoted reference)", cfg.Redis.PoolSize, 3},
		{"redis.timeout", cfg.Redis.Timeout, 250 * time.Millisecond},
		{"redis.password stays a string", cfg.Redis.Password, "null"},
		{"redis.username stays a string", cfg.Redis.Username, "123456"},
		{"control.tokens[0]", cfg.Control.Tokens[0], `tok:#"q"'s-0123456789abcdefghijklmnop`},
		{"redis.key_prefix", cfg.Redis.KeyPrefix, "a: b\n# c"},
		{"force_path_style", b.ForcePathStyle, true},
		{"part_size", b.PartSize, ByteSize(16 << 20)},
		{"part_concurrency default", b.PartConcurrency, 4},
		{"region default", b.Region, "eu-west-1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestParseEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{
			name: "unset variable names the key",
			yaml: "redis:\n  password: ${REDIS_PASSWORD}\n",
			want: []string{"redis.password: environment variable REDIS_PASSWORD is not set (line 2)"},
		},
		{
			name: "unset variable in a list item",
			yaml: "control:\n  tokens:\n    - control-token-0123456789abcdefghijklmnop\n    - ${AG_CONTROL_TOKEN}\n",
			want: []string{"control.tokens[1]: environment variable AG_CONTROL_TOKEN is not set (line 4)"},
		},
		{
			name: "expanded value of the wrong type",
			yaml: "redis:\n  db: ${DB}\n",
			env:  map[string]string{"DB": "three"},
			want: []string{"redis.db: must be an integer, got a string (line 2)"},
		},
		{
			name: "expanded bare number for a duration",
			yaml: "redis:\n  timeout: ${T}\n",
			env:  map[string]string{"T": "5"},
			want: []string{`redis.timeout: a bare number is not a duration: use a unit, e.g. "5s" (line 2)`},
		},
		{
			name: "keys are not expanded",
			yaml: "server:\n  ${KEY}: x\n  host: https://gw.example.com\n",
			env:  map[string]string{"KEY": "listen"},
			want: []string{`server."${KEY}": unknown key (line 2)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(validYAML(tt.yaml), mapEnv(tt.env), "")
			assertProblems(t, err, tt.want...)
		})
	}
}

func TestParseDotEnv(t *testing.T) {
	data := "\xef\xbb\xbf# comment\n" +
		"\n" +
		"PLAIN=value\n" +
		"  SPACED = spaced value  \n" +
		"export EXPORTED=yes\n" +
		"export\tTABBED=tab\n" +
		"SINGLE='it is $literal \\n # not a comment' # comment\n" +
		"DOUBLE=\"line1\\nline2 \\\"q\\\" \\\\ \\x\" # trailing comment\n" +
		"HASH=pa#ss # comment\n" +
		"DOLLAR=pa$$w${X}\n" +
		"EMPTY=\n" +
		"EMPTYQ=\"\"\n" +
		"CRLF=crlf\r\n" +
		"export=not a prefix\n" +
		"TWICE=first\n" +
		"TWICE=second\n"
	got, err := parseDotEnv([]byte(data), ".env")
	if err != nil {
		t.Fatalf("parseDotEnv: %v", err)
	}
	want := map[string]string{
		"PLAIN":    "value",
		"SPACED":   "spaced value",
		"EXPORTED": "yes",
		"TABBED":   "tab",
		"SINGLE":   `it is $literal \n # not a comment`,
		"DOUBLE":   "line1\nline2 \"q\" \\ \\x",
		"HASH":     "pa#ss",
		"DOLLAR":   "pa$$w${X}",
		"EMPTY":    "",
		"EMPTYQ":   "",
		"CRLF":     "crlf",
		"export":   "not a prefix",
		"TWICE":    "second",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q,\nwant %q", got, want)
	}
}

func TestParseDotEnvMalformed(t *testing.T) {
	data := "OK=1\n" +
		"no equals sign here\n" +
		"1BAD=x\n" +
		"BAD-NAME=x\n" +
		"Q=\"unterminated\n" +
		"S='unterminated\n" +
		"T='closed' junk\n" +
		"=novalue\n" +
		"# fine\n"
	_, err := parseDotEnv([]byte(data), "/cfg/.env")
	if err == nil {
		t.Fatal("got nil error, want one per malformed line")
	}
	for _, line := range []string{"2", "3", "4", "5", "6", "7", "8"} {
		if want := "/cfg/.env line " + line + ": "; !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to contain %q", err, want)
		}
	}
	for _, leak := range []string{"no equals", "BAD", "junk", "novalue"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("got %q, want no line content (%q) in it", err, leak)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 7 {
		t.Errorf("got %d errors, want 7:\n%v", n, err)
	}
}

// writeFiles creates files (name → content) in a new temporary directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDotEnv(t *testing.T) {
	t.Setenv("AG_TEST_FROM_PROCESS", "process-wins")
	dir := writeFiles(t, map[string]string{
		"config.yaml": string(validYAML(`
redis:
  password: ${AG_TEST_PASSWORD}
  username: ${AG_TEST_FROM_PROCESS}
  key_prefix: ${AG_TEST_PREFIX}
control:
  tokens: ["${AG_TEST_TOKEN}"]
`)),
		".env": "# secrets for local runs\n" +
			"export AG_TEST_PASSWORD='p@ss word#1'\n" +
			"AG_TEST_FROM_PROCESS=dotenv-loses\n" +
			"AG_TEST_PREFIX=\"pre:\" # comment\n" +
			"AG_TEST_TOKEN=tok$en-0123456789abcdefghijklmnopqrstu\n",
	})
	cfg, err := Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"quoted, exported", cfg.Redis.Password, "p@ss word#1"},
		{"process environment wins", cfg.Redis.Username, "process-wins"},
		{"double-quoted with comment", cfg.Redis.KeyPrefix, "pre:"},
		{"bare with a dollar", cfg.Control.Tokens[0], "tok$en-0123456789abcdefghijklmnopqrstu"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if v, ok := os.LookupEnv("AG_TEST_PASSWORD"); ok {
		t.Errorf("process environment: got AG_TEST_PASSWORD=%q, want it unset (Load must not change it)", v)
	}
}

func TestLoadDotEnvSetButEmptyProcessVariableWins(t *testing.T) {
	t.Setenv("AG_TEST_EMPTY", "")
	dir := writeFiles(t, map[string]string{
		"config.yaml": string(validYAML("redis:\n  password: \"[${AG_TEST_EMPTY}]\"\n")),
		".env":        "AG_TEST_EMPTY=from-dotenv\n",
	})
	cfg, err := Load(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.Redis.Password, "[]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadMalformedDotEnv(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"config.yaml": string(validYAML("redis:\n  password: ${AG_TEST_PW}\n")),
		".env":        "# ok\nAG_TEST_PW=x\nthis line is broken\n",
	})
	_, err := Load(filepath.Join(dir, "config.yaml"))
	want := filepath.Join(dir, ".env") + " line 3: expected KEY=VALUE"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error containing %q", err, want)
	}
}

func TestLoadWithoutDotEnv(t *testing.T) {
	dir := writeFiles(t, map[string]string{"config.yaml": string(validYAML(""))})
	if _, err := Load(filepath.Join(dir, "config.yaml")); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want an error matching fs.ErrNotExist", err)
	}
}
