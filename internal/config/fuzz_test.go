package config

import (
	"path/filepath"
	"testing"
)

// fuzzEnv is a fixed environment: a few names with known values, UNSET unset, and every
// other name set to "fuzz".
func fuzzEnv(name string) (string, bool) {
	switch name {
	case "UNSET":
		return "", false
	case "EMPTY":
		return "", true
	case "PORT":
		return "8080", true
	case "DURATION":
		return "5s", true
	case "SIZE":
		return "64KiB", true
	case "TOKEN":
		return "control-token-from-env", true
	case "ODD":
		return "a: b\n- c # ${PORT} $$ '\"", true
	}
	return "fuzz", true
}

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; a Config it returns must
// pass Validate and have absolute bucket paths (baseDir is absolute); an error must come
// without a Config and be the same on a second run (problems are sorted).
func FuzzParse(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzParse.
	f.Fuzz(func(t *testing.T, data []byte) {
		base := filepath.FromSlash("/fuzz/base")
		cfg, err := Parse(data, fuzzEnv, base)
		if err != nil {
			if cfg != nil {
				t.Fatalf("got a Config along with error %v", err)
			}
			if _, again := Parse(data, fuzzEnv, base); again == nil || again.Error() != err.Error() {
				t.Fatalf("second Parse: got %v, want the same error %v", again, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse succeeded but Validate failed: %v", err)
		}
		for alias, b := range cfg.Buckets {
			for _, p := range []string{b.Root, b.CAFile} {
				if p != "" && !filepath.IsAbs(p) {
					t.Fatalf("buckets.%s: got relative path %q, want it joined to %s", alias, p, base)
				}
			}
		}
	})
}
