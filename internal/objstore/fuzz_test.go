package objstore

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// Seed corpora live in testdata/fuzz/<FuzzName>; a crasher found by `go test -fuzz` lands there
// too and from then on runs with every `go test` as a regression test.

// FuzzValidFileKey: a key ValidFileKey accepts is a clean, local, slash-separated path that
// cannot leave the root or reach the reserved metadata folder; a refusal wraps ErrInvalidKey.
func FuzzValidFileKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidFileKey(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ValidFileKey(%q) = %v, want an error wrapping ErrInvalidKey", key, err)
			}
			return
		}
		switch {
		case !filepath.IsLocal(filepath.FromSlash(key)):
			t.Fatalf("ValidFileKey(%q) accepted a key that is not local", key)
		case utf8.ValidString(key) && !fs.ValidPath(key): // fs.ValidPath also wants UTF-8
			t.Fatalf("ValidFileKey(%q) accepted a key that is not a valid slash-separated path", key)
		case path.Clean(key) != key:
			t.Fatalf("ValidFileKey(%q) accepted an unclean key (clean: %q)", key, path.Clean(key))
		case key == metaRoot || strings.HasPrefix(key, metaRoot+"/"):
			t.Fatalf("ValidFileKey(%q) accepted a key in the reserved %s folder", key, metaRoot)
		case strings.ContainsAny(key, "\\\x00"):
			t.Fatalf("ValidFileKey(%q) accepted a backslash or NUL", key)
		}
		if _, err := filepath.Localize(key); err != nil && utf8.ValidString(key) {
			t.Fatalf("ValidFileKey(%q) accepted a key the OS cannot name: %v", key, err)
		}
		for _, seg := range strings.Split(key, "/") {
			if len(seg) > maxKeySegment {
				t.Fatalf("ValidFileKey(%q) accepted a %d-byte segment", key, len(seg))
			}
		}
	})
}
