// Package docs holds the reference pages (*.md) that README.md maps. It has no code: its test
// checks the repository's Markdown, so that a moved section or a renamed heading cannot leave a
// dead link behind.
package docs

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

const (
	// mapHeading is the README section that must link every page of docs/.
	mapHeading = "Map of the docs"
	// maxPageBytes keeps each page readable at once; a page that outgrows it should be split.
	maxPageBytes = 12 << 10
)

// root is the module root, seen from this package's directory (where go test runs).
const root = ".."

// TestLinks checks every Markdown file of the repository: each relative link points to a file
// or directory that exists inside the repository, and each #anchor to a heading of its page.
func TestLinks(t *testing.T) {
	pages := loadPages(t)
	if len(pages) == 0 {
		t.Fatal("no Markdown files found")
	}
	for _, name := range sortedKeys(pages) {
		for _, l := range pages[name].links {
			if msg := checkLink(pages, name, l.target); msg != "" {
				t.Errorf("%s:%d: link %q: %s", name, l.line, l.target, msg)
			}
		}
	}
}

// TestDocsMapped checks that every page of docs/ is linked from the README's map (no orphan
// page), starts with a title and an opening paragraph that links back to the README, and is
// short enough to read at once.
func TestDocsMapped(t *testing.T) {
	pages := loadPages(t)
	readme, ok := pages["README.md"]
	if !ok {
		t.Fatal("README.md not found")
	}
	mapped := map[string]bool{}
	sec, ok := readme.section(mapHeading)
	if !ok {
		t.Fatalf("README.md: no section %q", mapHeading)
	}
	for _, l := range readme.links {
		if l.line < sec.start || l.line >= sec.end {
			continue
		}
		if p, _, ok := resolve("README.md", l.target); ok {
			mapped[p] = true
		}
	}

	var docs []string
	for _, name := range sortedKeys(pages) {
		if path.Dir(name) == "docs" {
			docs = append(docs, name)
		}
	}
	if len(docs) == 0 {
		t.Fatal("no pages in docs/")
	}
	for _, name := range docs {
		p := pages[name]
		if !mapped[name] {
			t.Errorf("%s: not linked from the README's %q section", name, mapHeading)
		}
		if p.size > maxPageBytes {
			t.Errorf("%s: %d bytes, over %d: split it so that it can be read at once", name, p.size, maxPageBytes)
		}
		if len(p.headings) == 0 || p.headings[0].level != 1 || p.headings[0].line != p.firstLine {
			t.Errorf("%s: does not start with a level-1 title", name)
			continue
		}
		backLink := false
		for _, l := range p.links {
			if l.line > p.headings[0].line && l.line <= p.introEnd {
				if target, _, ok := resolve(name, l.target); ok && target == "README.md" {
					backLink = true
				}
			}
		}
		if !backLink {
			t.Errorf("%s: the paragraph under the title does not link back to README.md", name)
		}
	}
}

// A page is one Markdown file as this test reads it.
type page struct {
	size      int
	firstLine int // first non-blank line
	introEnd  int // last line of the first paragraph after the first heading
	headings  []heading
	anchors   map[string]bool
	links     []link
}

type heading struct {
	level, line int
	text        string
}

type link struct {
	line   int
	target string
}

// section returns the lines [start, end) of the section under the heading with this text.
func (p *page) section(text string) (struct{ start, end int }, bool) {
	var s struct{ start, end int }
	for i, h := range p.headings {
		if h.text != text {
			continue
		}
		s.start, s.end = h.line, 1<<31-1
		for _, next := range p.headings[i+1:] {
			if next.level <= h.level {
				s.end = next.line
				break
			}
		}
		return s, true
	}
	return s, false
}

// loadPages parses every *.md file under the module root, keyed by slash path from the root.
// Hidden directories (.git, …) and installed npm packages (node_modules: not the repository's
// pages) are skipped.
func loadPages(t *testing.T) map[string]*page {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	pages := map[string]*page{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir // hidden folders, and npm packages installed for the tests
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".md") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		pages[filepath.ToSlash(rel)] = parse(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

// checkLink returns what is wrong with a link written in the page from, or "".
func checkLink(pages map[string]*page, from, target string) string {
	if external(target) {
		return ""
	}
	p, frag, ok := resolve(from, target)
	if !ok {
		return "points outside the repository or cannot be decoded"
	}
	info, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil {
		return "no such file or directory"
	}
	if frag == "" || info.IsDir() || !strings.HasSuffix(p, ".md") {
		return "" // only Markdown headings are checked (GitHub's #L10 line anchors are not)
	}
	if !pages[p].anchors[frag] {
		return fmt.Sprintf("no heading with anchor #%s in %s", frag, p)
	}
	return ""
}

var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// external reports whether target is an absolute URL (https:, mailto:, //host…).
func external(target string) bool {
	return scheme.MatchString(target) || strings.HasPrefix(target, "//")
}

// resolve turns a relative link written in the page from into a slash path from the module
// root and a decoded fragment. A target starting with "/" is from the root, as on GitHub.
func resolve(from, target string) (p, frag string, ok bool) {
	if external(target) {
		return "", "", false
	}
	target, frag, _ = strings.Cut(target, "#")
	target, _, _ = strings.Cut(target, "?")
	target, err := url.PathUnescape(target)
	if err != nil {
		return "", "", false
	}
	if frag, err = url.PathUnescape(frag); err != nil {
		return "", "", false
	}
	switch {
	case target == "":
		p = from
	case strings.HasPrefix(target, "/"):
		p = path.Clean(target[1:])
	default:
		p = path.Join(path.Dir(from), target)
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", "", false
	}
	return p, frag, true
}

var (
	atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	fenceOpen  = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})")
	fenceClose = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})[ \t]*$")
	refDef     = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)`)
)

// parse reads headings (ATX style), their anchors and the links of one Markdown file, skipping
// fenced code blocks and code spans.
func parse(data []byte) *page {
	p := &page{size: len(data), anchors: map[string]bool{}}
	seen := map[string]int{}
	lines := strings.Split(string(data), "\n")
	inCode := make([]bool, len(lines))
	var open string // the fence of the code block we are in, or ""
	// Links may span lines: the text between blank lines, headings and code blocks is read
	// as one block, which starts at line blockStart.
	var block []string
	blockStart := 0
	flush := func() {
		text := strings.Join(block, "\n")
		for _, l := range inlineLinks(text) {
			l.line += blockStart
			p.links = append(p.links, l)
		}
		block = block[:0]
	}
	for i, line := range lines {
		n := i + 1
		if p.firstLine == 0 && strings.TrimSpace(line) != "" {
			p.firstLine = n
		}
		if open == "" && (strings.TrimSpace(line) == "" || fenceOpen.MatchString(line) || atxHeading.MatchString(line)) {
			flush()
		}
		if open != "" {
			inCode[i] = true
			if m := fenceClose.FindStringSubmatch(line); m != nil && m[1][0] == open[0] && len(m[1]) >= len(open) {
				open = ""
			}
			continue
		}
		if m := fenceOpen.FindStringSubmatch(line); m != nil {
			inCode[i], open = true, m[1]
			continue
		}
		if m := atxHeading.FindStringSubmatch(line); m != nil {
			text := headingText(m[2])
			p.headings = append(p.headings, heading{level: len(m[1]), line: n, text: text})
			a := anchor(text)
			if k := seen[a]; k > 0 {
				p.anchors[fmt.Sprintf("%s-%d", a, k)] = true
			} else {
				p.anchors[a] = true
			}
			seen[a]++
			for _, l := range inlineLinks(line) {
				p.links = append(p.links, link{line: n, target: l.target})
			}
			continue
		}
		if m := refDef.FindStringSubmatch(line); m != nil {
			p.links = append(p.links, link{line: n, target: m[1]})
			continue
		}
		if strings.TrimSpace(line) != "" {
			if len(block) == 0 {
				blockStart = n
			}
			block = append(block, line)
		}
	}
	flush()
	// The first paragraph under the first heading: from its first non-blank line to the line
	// before the next blank line, heading or code block.
	if len(p.headings) > 0 {
		i := p.headings[0].line // index of the line after the heading
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" && !inCode[i] && !atxHeading.MatchString(lines[i]) {
			i++
			p.introEnd = i
		}
	}
	return p
}

// anchor returns the id GitHub gives a heading with this (rendered) text: lower case; letters,
// digits, marks, '-' and '_' kept (any script); each space becomes '-'; everything else
// dropped. A repeated heading gets "-1", "-2", … (parse adds those).
func anchor(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

var (
	inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag    = regexp.MustCompile(`</?[A-Za-z][^>]*>`)
)

// headingText is the text GitHub renders for a heading's source: code spans lose their
// backticks, links keep their text, HTML tags vanish.
func headingText(src string) string {
	src = replaceCodeSpans(src, func(code string) string { return code })
	src = inlineLink.ReplaceAllString(src, "$1")
	return strings.TrimSpace(htmlTag.ReplaceAllString(src, ""))
}

// replaceCodeSpans rewrites every code span of line (a run of n backticks up to the next run
// of exactly n) with f of its content. An unclosed run is literal text.
func replaceCodeSpans(line string, f func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] == '\\' && i+1 < len(line) {
			b.WriteString(line[i : i+2])
			i += 2
			continue
		}
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(line); {
			if line[j] != '`' {
				j++
				continue
			}
			k := 0
			for j+k < len(line) && line[j+k] == '`' {
				k++
			}
			if k == n {
				end = j
				break
			}
			j += k
		}
		if end < 0 {
			b.WriteString(line[i : i+n])
			i += n
			continue
		}
		b.WriteString(f(line[i+n : end]))
		i = end + n
	}
	return b.String()
}

// inlineLinks returns the inline links and images of a block of text — [text](dest),
// [text](<dest>), [text](dest "title") — each with the line of its "](", counted from 0.
// Code spans and escaped brackets are not links.
func inlineLinks(line string) []link {
	line = replaceCodeSpans(line, func(code string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' {
				return r // keeps the line count
			}
			return ' '
		}, code)
	})
	var out []link
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
			continue
		case ']':
		default:
			continue
		}
		if i+1 >= len(line) || line[i+1] != '(' || !opensBefore(line, i) {
			continue
		}
		dest, next, ok := destination(line, i+2)
		if !ok {
			continue
		}
		out = append(out, link{line: strings.Count(line[:i], "\n"), target: dest})
		i = next - 1
	}
	return out
}

// opensBefore reports whether the ']' at line[i] closes a '[' (brackets balanced, unescaped).
func opensBefore(line string, i int) bool {
	depth := 0
	for j := i - 1; j >= 0; j-- {
		if j > 0 && line[j-1] == '\\' {
			continue
		}
		switch line[j] {
		case ']':
			depth++
		case '[':
			if depth == 0 {
				return true
			}
			depth--
		}
	}
	return false
}

// destination reads a link destination (and optional title) starting at line[i], just after
// "(", and returns it with the index after the closing ")".
func destination(line string, i int) (dest string, next int, ok bool) {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i < len(line) && line[i] == '<' {
		end := strings.IndexByte(line[i:], '>')
		if end < 0 {
			return "", 0, false
		}
		dest = line[i+1 : i+end]
		i += end + 1
	} else {
		start, depth := i, 0
		for ; i < len(line); i++ {
			c := line[i]
			if c == '\\' {
				i++
				continue
			}
			if c == ' ' || c == '\t' || (c == ')' && depth == 0) {
				break
			}
			if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		}
		dest = line[start:min(i, len(line))]
	}
	close := strings.IndexByte(line[i:], ')') // skips an optional "title"
	if close < 0 {
		return "", 0, false
	}
	return dest, i + close + 1, true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
