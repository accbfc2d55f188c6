package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Resolved YAML tags.
const (
	nullTag  = "!!null"
	boolTag  = "!!bool"
	strTag   = "!!str"
	intTag   = "!!int"
	floatTag = "!!float"
	tsTag    = "!!timestamp"
	mergeTag = "!!merge"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// parseDocument parses data as exactly one YAML document whose root is a mapping.
func parseDocument(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 reports malformed input by panicking internally and recovering; anything
		// that escapes is still a malformed input, not a reason to crash the process.
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the configuration file is empty")
		}
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	case !emptyDocument(&next):
		return nil, fmt.Errorf("the file holds more than one YAML document (line %d): "+
			"keep one document, without a second \"---\"", next.Line)
	}
	if emptyDocument(&doc) {
		return nil, errors.New("the configuration file is empty")
	}
	root = doc.Content[0]
	if root.Kind == yaml.AliasNode {
		root = root.Alias
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the document must be a mapping of keys (server, buckets, ...), got %s (line %d)",
			describe(doc.Content[0]), doc.Content[0].Line)
	}
	return root, nil
}

// emptyDocument reports whether doc holds nothing but, at most, a null scalar (comments only,
// or a bare "---").
func emptyDocument(doc *yaml.Node) bool {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag && n.Value == ""
}

// decoder fills a Go value from a YAML node tree, walking the tree against the value's yaml
// struct tags so that every problem is reported with its key path:
//
//   - unknown and duplicate keys, at any depth, including inside map values;
//   - type mismatches (a list where a string is expected, a string where an integer is);
//   - a bare number for a duration (only 0 needs no unit);
//   - ${VAR} references in scalar values (never keys) that cannot be expanded.
//
// A null value (`key:` or `key: ~`) leaves the field as it was, i.e. at its default. Anchors,
// aliases and "<<" merge keys are followed. Expanded scalars are re-resolved as if written
// plain, so that `port: ${PORT}` decodes into an int; string fields take the expanded text as
// it is. Problems never quote a value.
type decoder struct {
	env   func(string) (string, bool)
	probs *problems
	// lines records the line of the node decoded at every key path, to put a line number on
	// problems found later by Validate.
	lines map[string]int
	// failed lists the key paths whose value could not be decoded (and so kept its default):
	// Validate's problems at or under them are noise.
	failed []string
	// merged caches pairs for mappings with "<<" merge keys.
	merged map[*yaml.Node][]pair
}

// fail records that the value at path could not be decoded.
func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.probs.add(path, line, format, args...)
	d.failed = append(d.failed, path)
}

// value decodes n into v; path is v's key path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	d.lines[path] = n.Line
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag {
		return
	}
	switch t := v.Type(); {
	case t == durationType:
		d.duration(n, v, path)
	case t == byteSizeType:
		d.byteSize(n, v, path)
	case t.Kind() == reflect.Struct:
		d.structure(n, v, path)
	case t.Kind() == reflect.Map:
		d.mapping(n, v, path)
	case t.Kind() == reflect.Slice:
		d.sequence(n, v, path)
	case t.Kind() == reflect.String:
		d.str(n, v, path)
	case t.Kind() == reflect.Int:
		d.integer(n, v, path)
	case t.Kind() == reflect.Bool:
		d.boolean(n, v, path)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", t, path))
	}
}

// mismatch records that n cannot be decoded into a field that wants `want`.
func (d *decoder) mismatch(n *yaml.Node, path, want string) {
	d.fail(path, n.Line, "must be %s, got %s", want, describe(n))
}

// describe names what a node is, without its value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		if n.Alias != nil {
			return describe(n.Alias)
		}
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); tag {
		case nullTag:
			return "nothing"
		case strTag:
			return "a string"
		case intTag, floatTag:
			return "a number"
		case boolTag:
			return "a boolean"
		case tsTag:
			return "a timestamp"
		default:
			return fmt.Sprintf("a value tagged %q", tag)
		}
	}
	return "an unexpected YAML node"
}

// scalar returns the scalar to decode for n after ${VAR} expansion, or nil after recording a
// problem. expanded reports whether a reference was substituted; the returned node then has
// no style and, unless the original carried an explicit tag, no tag, so that yaml.v3 resolves
// it again as a plain scalar.
func (d *decoder) scalar(n *yaml.Node, path, want string) (s *yaml.Node, expanded bool) {
	if n.Kind != yaml.ScalarNode {
		d.mismatch(n, path, want)
		return nil, false
	}
	out, expanded, msgs := expandEnv(n.Value, d.env)
	for _, m := range msgs {
		d.fail(path, n.Line, "%s", m)
	}
	if len(msgs) > 0 {
		return nil, false
	}
	if out == n.Value {
		return n, expanded
	}
	c := *n
	c.Value = out
	if expanded && n.Style&yaml.TaggedStyle == 0 {
		c.Tag, c.Style = "", 0
	}
	return &c, expanded
}

func (d *decoder) str(n *yaml.Node, v reflect.Value, path string) {
	s, expanded := d.scalar(n, path, "a string")
	if s == nil {
		return
	}
	if !expanded {
		switch s.ShortTag() {
		case strTag, intTag, floatTag, boolTag, tsTag:
		default:
			d.mismatch(s, path, "a string")
			return
		}
	}
	v.SetString(s.Value)
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	s, _ := d.scalar(n, path, "an integer")
	if s == nil || s.ShortTag() == nullTag {
		return
	}
	var i int64
	if s.ShortTag() != intTag || s.Decode(&i) != nil || v.OverflowInt(i) {
		d.mismatch(s, path, "an integer")
		return
	}
	v.SetInt(i)
}

func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string) {
	s, _ := d.scalar(n, path, "true or false")
	if s == nil || s.ShortTag() == nullTag {
		return
	}
	var b bool
	if s.ShortTag() != boolTag || s.Decode(&b) != nil {
		d.mismatch(s, path, "true or false")
		return
	}
	v.SetBool(b)
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	const want = `a duration with a unit, e.g. "5s"`
	s, _ := d.scalar(n, path, want)
	if s == nil {
		return
	}
	switch s.ShortTag() {
	case nullTag:
	case intTag, floatTag:
		var f float64
		if s.Decode(&f) == nil && f == 0 {
			v.SetInt(0)
			return
		}
		d.fail(path, s.Line, `a bare number is not a duration: use a unit, e.g. "5s"`)
	case strTag:
		dur, err := time.ParseDuration(strings.TrimSpace(s.Value))
		if err != nil {
			d.fail(path, s.Line, `must be a duration: a number with a unit `+
				`(ns, us, ms, s, m, h), e.g. "5s", "1m30s" or "168h"`)
			return
		}
		v.SetInt(int64(dur))
	default:
		d.mismatch(s, path, want)
	}
}

func (d *decoder) byteSize(n *yaml.Node, v reflect.Value, path string) {
	s, _ := d.scalar(n, path, `a size, e.g. 65536 or "64KiB"`)
	if s == nil {
		return
	}
	b := ByteSize(v.Int())
	if err := b.UnmarshalYAML(s); err != nil {
		d.fail(path, s.Line, "%s", err.Error())
		return
	}
	v.SetInt(int64(b))
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.mismatch(n, path, "a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), indexPath(path, i))
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, path, "a mapping")
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, path, nil) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(p.val, elem, joinPath(path, p.key))
		v.SetMapIndex(reflect.ValueOf(p.key), elem)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, path, "a mapping")
		return
	}
	t := v.Type()
	fields := make(map[string]int, t.NumField())
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
			names = append(names, name)
		}
	}
	for _, p := range d.pairs(n, path, nil) {
		child := joinPath(path, p.key)
		i, ok := fields[p.key]
		if !ok {
			pr := d.probs.add(child, p.line, "unknown key")
			if s := closest(p.key, names); s != "" {
				pr.hint = fmt.Sprintf("did you mean %q?", s)
			}
			continue
		}
		d.value(p.val, v.Field(i), child)
	}
}

// pair is one key of a mapping with its value.
type pair struct {
	key  string
	line int // the key's line
	val  *yaml.Node
}

// pairs lists a mapping's keys in order, reporting duplicate and non-scalar keys, and adds the
// keys brought in by "<<" merge keys that the mapping does not set itself (the first merged
// mapping wins, as in YAML 1.1). visiting guards against a mapping merging itself. The result
// for a mapping with merge keys is computed once: a chain of anchors that each merge the
// previous one twice would otherwise take exponential time. Callers must not modify it.
func (d *decoder) pairs(n *yaml.Node, path string, visiting map[*yaml.Node]bool) []pair {
	if cached, ok := d.merged[n]; ok {
		return cached
	}
	var out []pair
	var merges []*yaml.Node
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == mergeTag {
			merges = append(merges, val)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.probs.add(path, k.Line, "keys must be strings, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.probs.add(joinPath(path, k.Value), k.Line, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{key: k.Value, line: k.Line, val: val})
	}
	if len(merges) == 0 {
		return out
	}
	if visiting == nil {
		visiting = make(map[*yaml.Node]bool)
	}
	visiting[n] = true
	defer delete(visiting, n)
	if d.merged == nil {
		d.merged = make(map[*yaml.Node][]pair)
	}
	defer func() { d.merged[n] = out }()
	type source struct {
		n    *yaml.Node
		line int // where the merge names it
	}
	var sources []source
	for _, m := range merges {
		line := m.Line
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			m = m.Alias
		}
		if m.Kind != yaml.SequenceNode {
			sources = append(sources, source{m, line})
			continue
		}
		for _, item := range m.Content {
			sources = append(sources, source{item, item.Line})
		}
	}
	for _, s := range sources {
		src, line := s.n, s.line
		if src.Kind == yaml.AliasNode && src.Alias != nil {
			src = src.Alias
		}
		if src.Kind != yaml.MappingNode {
			d.probs.add(joinPath(path, "<<"), line, "must be a mapping or a list of mappings, got %s", describe(src))
			continue
		}
		if visiting[src] {
			d.probs.add(joinPath(path, "<<"), line, "a mapping cannot merge itself")
			continue
		}
		for _, p := range d.pairs(src, path, visiting) {
			if _, dup := seen[p.key]; !dup {
				seen[p.key] = p.line
				out = append(out, p)
			}
		}
	}
	return out
}

// closest returns the candidate nearest to key when key is a likely typo of it (an edit
// distance of at most 2 and under half the candidate's length, or one is a prefix of the
// other, e.g. "secret" for "secret_key"), else "".
func closest(key string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		dist := editDistance(key, c)
		typo := dist <= 2 && dist*2 < len(c)
		prefix := len(key) >= 3 && (strings.HasPrefix(c, key) || strings.HasPrefix(key, c))
		if (typo || prefix) && (bestDist < 0 || dist < bestDist) {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes. Long inputs are not
// compared (they are never typos of a short key).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
