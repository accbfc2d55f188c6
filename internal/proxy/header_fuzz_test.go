package proxy

import (
	"mime"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Seed corpora live in testdata/fuzz/<FuzzName>; a crasher found by `go test -fuzz` lands there
// too and from then on runs with every `go test` as a regression test.

// FuzzContentDisposition: the header value is printable ASCII whatever the name (no CR, LF
// or other control byte can reach the header), and for every name a token may carry —
// non-empty valid UTF-8 without control characters — it parses back, through
// mime.ParseMediaType, to exactly that name.
func FuzzContentDisposition(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		for _, disposition := range []string{"attachment", "inline"} {
			v := ContentDisposition(disposition, name)
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] > 0x7e {
					t.Fatalf("ContentDisposition(%q) = %q: byte %#x at %d is not printable ASCII", name, v, v[i], i)
				}
			}
			if name == "" || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
				continue // refused at mint time: never a token's filename
			}
			got, params, err := mime.ParseMediaType(v)
			if err != nil {
				t.Fatalf("ContentDisposition(%q) = %q: mime.ParseMediaType: %v", name, v, err)
			}
			if got != disposition || params["filename"] != name {
				t.Fatalf("ContentDisposition(%q) = %q parses as %q, filename %q", name, v, got, params["filename"])
			}
		}
	})
}
