package byterange

import (
	"math"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>; a crasher found by `go test -fuzz` lands there
// too and from then on runs with every `go test` as a regression test.

// FuzzParse: Parse never panics; what it returns is one well-formed range that
// survives a round trip through HeaderValue, and resolves inside any object.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		r := Parse(h)
		if r == nil {
			return
		}
		trimmed := strings.TrimSpace(h)
		if len(trimmed) < 6 || !strings.EqualFold(trimmed[:6], "bytes=") || strings.Contains(h, ",") {
			t.Fatalf("Parse(%q) = %+v, want nil: not a single bytes range", h, *r)
		}
		switch {
		case r.First < -1 || r.Last < -1:
			t.Fatalf("Parse(%q) = %+v: negative bound other than -1", h, *r)
		case r.First == -1 && r.Last < 0:
			t.Fatalf("Parse(%q) = %+v: a suffix range needs a length", h, *r)
		case r.First >= 0 && r.Last >= 0 && r.First > r.Last:
			t.Fatalf("Parse(%q) = %+v: First > Last", h, *r)
		}
		again := Parse(r.HeaderValue())
		if again == nil || *again != *r {
			t.Fatalf("Parse(%q) = %+v, but its HeaderValue %q parses as %v", h, *r, r.HeaderValue(), again)
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
