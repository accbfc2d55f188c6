package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Load reads the configuration file at path.
//
// A ".env" file in the same directory, when present, is read first: its variables are
// available to ${VAR} references, but a variable already set in the process environment
// always wins. Load never changes the process environment, so the .env file only feeds the
// configuration file (not, say, the AWS SDK's own environment lookups). Relative paths in the
// file (buckets.<alias>.root, buckets.<alias>.ca_file, server.tls.cert_file and key_file) are
// resolved against the file's absolute directory.
//
// Errors in the .env file (reported by line number, never by content) are returned together
// with the configuration's own problems. See Parse for the rest.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var dotEnv map[string]string
	var envErr error
	envPath := filepath.Join(dir, ".env")
	switch raw, err := os.ReadFile(envPath); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", envPath, err)
	default:
		dotEnv, envErr = parseDotEnv(raw, envPath)
	}
	lookup := func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		v, ok := dotEnv[name]
		return v, ok
	}
	cfg, err := Parse(data, lookup, dir)
	if envErr != nil {
		return nil, errors.Join(envErr, err)
	}
	return cfg, err
}

// Parse builds a Config from YAML data:
//
//  1. it starts from Default();
//  2. it decodes data strictly, walking the YAML tree: unknown keys, duplicate keys and values
//     of the wrong type are problems at any depth, a duration needs a unit ("5s"; only 0 may
//     be bare), and a key written with no value (or ~) keeps its default;
//  3. it expands ${NAME} and ${NAME:-default} in every scalar value (never in keys) with
//     lookupEnv ($$ is a literal $, a lone $ stays as it is, a nil lookupEnv means an empty
//     environment), before the value is decoded, so `db: ${REDIS_DB}` fills an integer;
//  4. it applies the per-alias bucket defaults and joins relative buckets.<alias>.root,
//     buckets.<alias>.ca_file, server.tls.cert_file and server.tls.key_file to baseDir
//     (absolute paths are kept as written; a leading "~" is an error, it is not expanded);
//  5. it runs Validate.
//
// On any problem it returns a nil Config and one error joining every problem found by all
// steps (errors.Join), one per line as "key.path: message (line N)", sorted by key path.
// A Validate problem at or under a key that already failed to decode is left out. Messages
// never contain a secret value. Malformed YAML, an empty file, more than one YAML document
// and a root that is not a mapping are reported alone.
func Parse(data []byte, lookupEnv func(string) (string, bool), baseDir string) (*Config, error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	cfg := Default()
	var ps problems
	d := &decoder{env: lookupEnv, probs: &ps, lines: make(map[string]int)}
	d.value(root, reflect.ValueOf(&cfg).Elem(), "")

	cfg.Server.TLS.CertFile = resolvePath(&ps, d.lines, "server.tls.cert_file", baseDir, cfg.Server.TLS.CertFile)
	cfg.Server.TLS.KeyFile = resolvePath(&ps, d.lines, "server.tls.key_file", baseDir, cfg.Server.TLS.KeyFile)
	for alias, b := range cfg.Buckets {
		b = bucketDefaults(b)
		path := joinPath("buckets", alias)
		b.Root = resolvePath(&ps, d.lines, path+".root", baseDir, b.Root)
		b.CAFile = resolvePath(&ps, d.lines, path+".ca_file", baseDir, b.CAFile)
		cfg.Buckets[alias] = b
	}

	for _, p := range cfg.check() {
		if !withinAny(p.path, d.failed) {
			p.line = d.lines[p.path]
			ps = append(ps, p)
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// resolvePath joins a relative path to baseDir (filepath.Join, which cleans it); "" and
// absolute paths are returned as they are. A leading "~" is reported, since no shell expands it here.
func resolvePath(ps *problems, lines map[string]int, key, baseDir, p string) string {
	switch {
	case p == "":
		return ""
	case p == "~" || strings.HasPrefix(p, "~/"):
		ps.add(key, lines[key], `"~" is not expanded: write ${HOME} or an absolute path`)
		return p
	case filepath.IsAbs(p):
		return p
	default:
		return filepath.Join(baseDir, p)
	}
}

func withinAny(path string, bases []string) bool {
	for _, b := range bases {
		if within(path, b) {
			return true
		}
	}
	return false
}
