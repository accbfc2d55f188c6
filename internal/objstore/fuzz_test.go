package objstore

import (
	"errors"
	"io/fs"
	"math"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// Seed corpora live in testdata/fuzz/<FuzzName>; a crasher found by `go test -fuzz` lands there
// too and from then on runs with every `go test` as a regression test.

// FuzzParseRange: ParseRange never panics; what it returns is one well-formed range that
// survives a round trip through HeaderValue, and resolves inside any object.
func FuzzParseRange(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		r := ParseRange(h)
		if r == nil {
			return
		}
		trimmed := strings.TrimSpace(h)
		if len(trimmed) < 6 || !strings.EqualFold(trimmed[:6], "bytes=") || strings.Contains(h, ",") {
			t.Fatalf("ParseRange(%q) = %+v, want nil: not a single bytes range", h, *r)
		}
		switch {
		case r.First < -1 || r.Last < -1:
			t.Fatalf("ParseRange(%q) = %+v: negative bound other than -1", h, *r)
		case r.First == -1 && r.Last < 0:
			t.Fatalf("ParseRange(%q) = %+v: a suffix range needs a length", h, *r)
		case r.First >= 0 && r.Last >= 0 && r.First > r.Last:
			t.Fatalf("ParseRange(%q) = %+v: First > Last", h, *r)
		}
		again := ParseRange(r.HeaderValue())
		if again == nil || *again != *r {
			t.Fatalf("ParseRange(%q) = %+v, but its HeaderValue %q parses as %v", h, *r, r.HeaderValue(), again)
		}
		for _, size := range []int64{0, 1, 2, 1000, r.First, r.First + 1, r.Last, r.Last + 1, math.MaxInt64} {
			if size < 0 {
				continue
			}
			start, length, ok := r.Resolve(size)
			if !ok {
				if r.First >= 0 && r.First < size {
					t.Fatalf("%+v.Resolve(%d): unsatisfiable, but it starts inside the object", *r, size)
				}
				continue
			}
			if start < 0 || length < 1 || start > size-length {
				t.Fatalf("%+v.Resolve(%d) = %d, %d: outside the object", *r, size, start, length)
			}
			if r.First >= 0 && start != r.First {
				t.Fatalf("%+v.Resolve(%d) starts at %d, want %d", *r, size, start, r.First)
			}
		}
	})
}

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
