package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// problem is one configuration error. Its text is "path: message (line N), hint"; the line
// and the hint are left out when unknown. Messages never contain a configured value that may
// be secret.
type problem struct {
	path string // key path, e.g. "buckets.prod-assets.credential" or "control.tokens[2]"
	msg  string
	line int    // 1-based line in the YAML file; 0 when unknown
	hint string // optional, e.g. `did you mean "listen"?`
}

func (p *problem) Error() string {
	var b strings.Builder
	if p.path != "" {
		b.WriteString(p.path)
		b.WriteString(": ")
	}
	b.WriteString(p.msg)
	if p.line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.line)
	}
	if p.hint != "" {
		b.WriteString(", ")
		b.WriteString(p.hint)
	}
	return b.String()
}

// problems collects configuration errors.
type problems []*problem

func (ps *problems) add(path string, line int, format string, args ...any) *problem {
	p := &problem{path: path, msg: fmt.Sprintf(format, args...), line: line}
	*ps = append(*ps, p)
	return p
}

// err sorts the problems by key path (indexes and numbers in numeric order), then line, drops
// exact repeats (a YAML alias may make the same mistake appear twice) and joins them; nil when
// there are none.
func (ps problems) err() error {
	sorted := slices.Clone(ps)
	slices.SortStableFunc(sorted, func(a, b *problem) int {
		if c := comparePaths(a.path, b.path); c != 0 {
			return c
		}
		return a.line - b.line
	})
	var errs []error
	seen := make(map[string]bool)
	for _, p := range sorted {
		if s := p.Error(); !seen[s] {
			seen[s] = true
			errs = append(errs, p)
		}
	}
	return errors.Join(errs...)
}

// comparePaths orders key paths lexically, except that runs of digits compare as numbers, so
// that "retries[2]" sorts before "retries[10]".
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, erra := strconv.ParseUint(a[:da], 10, 64)
			nb, errb := strconv.ParseUint(b[:db], 10, 64)
			if erra == nil && errb == nil && na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			if c := strings.Compare(a[:da], b[:db]); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// plainKey matches map keys written as they are in key paths; others are quoted.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// joinPath appends a mapping key to a key path.
func joinPath(path, key string) string {
	if !plainKey.MatchString(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexPath appends a sequence index to a key path.
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// within reports whether path is base or lies under it.
func within(path, base string) bool {
	return path == base || strings.HasPrefix(path, base+".") || strings.HasPrefix(path, base+"[")
}
