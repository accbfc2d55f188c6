package byterange

import "testing"

func TestParseContent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Content
		ok   bool
	}{
		{"bytes 0-9/10", Content{0, 9, 10}, true},
		{"bytes 5-5/6", Content{5, 5, 6}, true},
		{"bytes 0-9/*", Content{0, 9, -1}, true},
		{"bytes */10", Content{-1, -1, 10}, true},
		{"bytes */*", Content{}, false},
		{"bytes 5-4/10", Content{}, false},
		{"bytes 0-10/10", Content{}, false},
		{"items 0-9/10", Content{}, false},
		{"bytes -1-9/10", Content{}, false},
		{"bytes 0--1/0", Content{}, false},
	} {
		got, ok := ParseContent(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseContent(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && got.String() != tc.in {
			t.Errorf("ParseContent(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestSizeOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"bytes 0--1/0", 0, true},
		{"bytes */10", 10, true},
		{"bytes 0-9/*", 0, false},
		{"items 0-9/10", 0, false},
	} {
		got, ok := SizeOf(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("SizeOf(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, c := range []struct{ name, header string }{
		{"absent", ""},
		{"first-last", "bytes=0-99"},
		{"open", "bytes=1048576-"},
		{"suffix", "bytes=-500"},
		{"several", "bytes=0-99,200-299"},
		{"bad-unit", "items=0-9"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Parse(c.header)
			}
		})
	}
}
