package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// validEnvName reports whether s matches [A-Za-z_][A-Za-z0-9_]*.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandEnv replaces environment references in one scalar value:
//
//   - ${NAME} becomes the variable's value; an unset variable is a problem (set but empty is
//     fine).
//   - ${NAME:-default} becomes the variable's value, or the literal default text when the
//     variable is unset or empty. The default runs to the first "}" and is not expanded again.
//   - $$ is a literal $; a $ not followed by { or $ stays as it is.
//
// Substituted text is never expanded again. expanded reports whether at least one ${...}
// reference was substituted. The problems never contain the value or any variable's value.
func expandEnv(s string, lookup func(string) (string, bool)) (out string, expanded bool, problems []string) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c != '$':
			b.WriteByte(c)
			i++
		case i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i += 2
		case i+1 >= len(s) || s[i+1] != '{':
			b.WriteByte('$')
			i++
		default:
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				problems = append(problems, `unterminated "${" (write "$$" for a literal "$")`)
				return s, false, problems
			}
			body := s[i+2 : i+2+end]
			i += 2 + end + 1
			name, def, hasDef := strings.Cut(body, ":-")
			if !validEnvName(name) {
				problems = append(problems, `malformed "${...}" reference: want ${NAME} or ${NAME:-default} `+
					`with NAME made of letters, digits and "_" (write "$$" for a literal "$")`)
				continue
			}
			var val string
			var ok bool
			if lookup != nil {
				val, ok = lookup(name)
			}
			switch {
			case hasDef && val == "":
				val = def
			case !ok:
				problems = append(problems, fmt.Sprintf("environment variable %s is not set", name))
				continue
			}
			b.WriteString(val)
			expanded = true
		}
	}
	if len(problems) > 0 {
		return s, false, problems
	}
	return b.String(), expanded, nil
}

// parseDotEnv reads a .env file: KEY=VALUE lines, blank lines, lines starting with "#", an
// optional "export " prefix, and values that are bare (a " #" starts a comment), 'single-quoted'
// (taken literally) or "double-quoted" (\\, \", \n, \r and \t are unescaped; any other
// backslash is kept). Values are taken literally otherwise: no $VAR expansion. A later line
// for the same KEY wins. Malformed lines are reported by line number, never by content. name
// is the file's name, used in errors.
func parseDotEnv(data []byte, name string) (map[string]string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	vars := make(map[string]string)
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(t, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			t = strings.TrimLeft(rest, " \t")
		}
		key, raw, ok := strings.Cut(t, "=")
		key = strings.TrimRight(key, " \t")
		var msg string
		switch {
		case !ok:
			msg = "expected KEY=VALUE"
		case !validEnvName(key):
			msg = "the variable name must be letters, digits and _, not starting with a digit"
		}
		val, err := dotEnvValue(strings.TrimLeft(raw, " \t"))
		if msg == "" && err != nil {
			msg = err.Error()
		}
		if msg != "" {
			errs = append(errs, fmt.Errorf("%s line %d: %s", name, i+1, msg))
			continue
		}
		vars[key] = val
	}
	return vars, errors.Join(errs...)
}

// dotEnvEscapes are the escapes understood inside a double-quoted .env value.
var dotEnvEscapes = map[byte]byte{'\\': '\\', '"': '"', 'n': '\n', 'r': '\r', 't': '\t'}

// dotEnvValue decodes the part of a .env line after "=" (leading blanks already removed).
func dotEnvValue(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	var val, rest string
	switch s[0] {
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated single quote")
		}
		val, rest = s[1:1+end], s[2+end:]
	case '"':
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				if r, ok := dotEnvEscapes[s[i+1]]; ok {
					b.WriteByte(r)
					i++
					continue
				}
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return "", errors.New("unterminated double quote")
		}
		val, rest = b.String(), s[i+1:]
	default:
		val = s
		for i := 1; i < len(s); i++ {
			if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
				val = s[:i]
				break
			}
		}
		return strings.TrimRight(val, " \t"), nil
	}
	if rest = strings.TrimLeft(rest, " \t"); rest != "" && rest[0] != '#' {
		return "", errors.New("unexpected text after the closing quote")
	}
	return val, nil
}
