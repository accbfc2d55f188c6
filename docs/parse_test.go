package docs

import (
	"slices"
	"strings"
	"testing"
)

// The tests below pin the Markdown reading that TestLinks and TestDocsMapped rely on.

func TestAnchor(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"words", "Hit accounting", "hit-accounting"},
		{"punctuation dropped", "Browsers (CORS)", "browsers-cors"},
		{"path", "/object/{token}", "objecttoken"},
		{"route", "POST /token", "post-token"},
		{"underscore and hyphen kept", "redis.wait_replicas: N-fold", "rediswait_replicas-n-fold"},
		{"each space a hyphen", "a -- b", "a----b"},
		{"non-ASCII letters kept", "说明 README.md", "说明-readmemd"},
		{"accents kept, lower-cased", "Élan Vital", "élan-vital"},
		{"symbols dropped", "Speed × 2 → fast!", "speed--2--fast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := anchor(tt.text); got != tt.want {
				t.Errorf("anchor(%q): got %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseHeadings(t *testing.T) {
	src := strings.Join([]string{
		"# Title",
		"",
		"Intro with a [link](../README.md)",
		"on two lines.",
		"",
		"## `redis.addr` and [friends](x.md) ##",
		"## Notes",
		"## Notes",
		"```sh",
		"## not a heading",
		"```",
		"~~~",
		"```",
		"## still code",
		"~~~",
		"#hashtag is not a heading",
	}, "\n")
	p := parse([]byte(src))
	var got []string
	for a := range p.anchors {
		got = append(got, a)
	}
	slices.Sort(got)
	want := []string{"notes", "notes-1", "redisaddr-and-friends", "title"}
	if !slices.Equal(got, want) {
		t.Errorf("anchors: got %q, want %q", got, want)
	}
	if p.introEnd != 4 {
		t.Errorf("introEnd: got %d, want 4", p.introEnd)
	}
	if h := p.headings[1]; h.level != 2 || h.text != "redis.addr and friends" || h.line != 6 {
		t.Errorf("headings[1]: got %+v, want level 2, text %q, line 6", h, "redis.addr and friends")
	}
}

func TestParseLinks(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []link
	}{
		{"inline", "see [HTTP API](docs/http-api.md) now", []link{{1, "docs/http-api.md"}}},
		{"anchor only", "[up](#try-it)", []link{{1, "#try-it"}}},
		{"image", "![chart](img/a.png)", []link{{1, "img/a.png"}}},
		{"title", `[a](b.md "the title")`, []link{{1, "b.md"}}},
		{"angle brackets", "[a](<my file.md>)", []link{{1, "my file.md"}}},
		{"parentheses in destination", "[a](f(1).md)", []link{{1, "f(1).md"}}},
		{"code in text", "[`docs/`](docs/)", []link{{1, "docs/"}}},
		{"text over two lines", "x\n[a\nb](c.md)", []link{{3, "c.md"}}},
		{"reference definition", "[ref]: docs/x.md", []link{{1, "docs/x.md"}}},
		{"two on a line", "[a](a.md) and [b](b.md)", []link{{1, "a.md"}, {1, "b.md"}}},
		{"code span", "`[a](nolink.md)`", nil},
		{"code span over two lines", "`[a]\n(nolink.md)` and [b](b.md)", []link{{2, "b.md"}}},
		{"escaped bracket", `\[a](nolink.md)`, nil},
		{"fenced code", "```\n[a](nolink.md)\n```\n[b](b.md)", []link{{4, "b.md"}}},
		{"no parenthesis", "[a] (nolink.md)", nil},
		{"bare brackets", "`[5s, 5m]` and [x]", nil},
		{"table cell", "| [a](a.md) | `[1]` |", []link{{1, "a.md"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parse([]byte(tt.src)).links
			if !slices.Equal(got, tt.want) {
				t.Errorf("links of %q: got %+v, want %+v", tt.src, got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name, from, target string
		wantPath, wantFrag string
		wantOK             bool
	}{
		{"sibling", "docs/a.md", "b.md", "docs/b.md", "", true},
		{"up", "docs/a.md", "../README.md#try-it", "README.md", "try-it", true},
		{"same page", "docs/a.md", "#errors", "docs/a.md", "errors", true},
		{"from the root", "docs/a.md", "/bench/README.md", "bench/README.md", "", true},
		{"escaped", "README.md", "docs/my%20page.md#%E8%AF%B4%E6%98%8E", "docs/my page.md", "说明", true},
		{"query dropped", "README.md", "docs/a.md?plain=1", "docs/a.md", "", true},
		{"outside the repository", "docs/a.md", "../../x.md", "", "", false},
		{"external", "README.md", "https://example.com/a.md", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, frag, ok := resolve(tt.from, tt.target)
			if p != tt.wantPath || frag != tt.wantFrag || ok != tt.wantOK {
				t.Errorf("resolve(%q, %q): got %q, %q, %v; want %q, %q, %v",
					tt.from, tt.target, p, frag, ok, tt.wantPath, tt.wantFrag, tt.wantOK)
			}
		})
	}
}

func TestCheckLink(t *testing.T) {
	pages := map[string]*page{
		"README.md":      parse([]byte("# Title\n\n## Try it\n")),
		"docs/design.md": parse([]byte("# Design decisions\n")),
	}
	tests := []struct {
		name, from, target string
		wantOK             bool
	}{
		{"file and anchor", "docs/design.md", "../README.md#try-it", true},
		{"missing anchor", "docs/design.md", "../README.md#tryit", false},
		{"missing file", "README.md", "docs/nope.md", false},
		{"directory", "README.md", "docs/", true},
		{"non-Markdown file, anchor not checked", "docs/design.md", "links_test.go#L1", true},
		{"external", "README.md", "https://example.com/nope.md", true},
		{"outside the repository", "README.md", "../x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := checkLink(pages, tt.from, tt.target)
			if (msg == "") != tt.wantOK {
				t.Errorf("checkLink(%q, %q): got %q, want ok=%v", tt.from, tt.target, msg, tt.wantOK)
			}
		})
	}
}
