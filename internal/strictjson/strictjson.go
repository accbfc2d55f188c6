// Package strictjson decodes the JSON a control request carries, refusing what
// encoding/json quietly accepts and what could mint a token other than the one asked for:
// a member name that differs from a field's only in case, a member given twice ({"max_hits":
// 1, "max_hits": -1}), an unknown member (a misspelt "max_hit"), a string that is not valid
// UTF-8 or holds a lone UTF-16 surrogate (a key or file name the caller never sent), and
// anything after the one value. It is github.com/go-json-experiment/json (the proposed
// encoding/json/v2), whose defaults refuse all of these, with messages a client can act on.
package strictjson

import (
	"errors"
	"reflect"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Value is one raw JSON value, for decoding in two steps (a batch, then each item).
type Value = jsontext.Value

// Unmarshal decodes exactly one JSON value from data into v, strictly. Its error names the
// member at fault; Problem words it for a client.
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v, json.RejectUnknownMembers(true))
}

// Problem words an Unmarshal error for a client, naming the member at fault in dotted form
// ("metadata.owner: given more than once"); what it cannot place is "invalid JSON".
func Problem(err error) string {
	var sem *json.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &sem):
		field := dotted(sem.JSONPointer)
		switch {
		case errors.Is(sem.Err, json.ErrUnknownName):
			name := sem.JSONPointer.LastToken()
			if parent := dotted(parentOf(sem.JSONPointer)); parent != "" {
				return parent + `: unknown field "` + truncate(name, 64) + `"`
			}
			return `unknown field "` + truncate(name, 64) + `"`
		case sem.GoType != nil && field != "":
			return field + ": must be a JSON " + kindOf(sem.GoType)
		case sem.GoType != nil:
			return "not a JSON " + kindOf(sem.GoType)
		case field != "":
			return field + ": invalid value"
		}
	case errors.As(err, &syn):
		field := dotted(syn.JSONPointer)
		msg := syn.Err.Error()
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return dotted(syn.JSONPointer) + ": given more than once"
		case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "surrogate"):
			if field != "" {
				return field + ": not valid UTF-8"
			}
			return "not valid UTF-8"
		case strings.Contains(msg, "after top-level value"):
			return "more than one value"
		}
	}
	return "invalid JSON"
}

// dotted turns a JSON pointer ("/metadata/owner", "/tokens/3/key") into a dotted field path
// ("metadata.owner", "tokens[3].key").
func dotted(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if isIndex(tok) {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(truncate(tok, 64))
	}
	return b.String()
}

func parentOf(p jsontext.Pointer) jsontext.Pointer {
	i := strings.LastIndexByte(string(p), '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// kindOf names a Go type the way a JSON user would.
func kindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return "string"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
