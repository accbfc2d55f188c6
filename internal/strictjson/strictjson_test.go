package strictjson

import (
	"strings"
	"testing"
)

type req struct {
	Key      string            `json:"key"`
	MaxHits  *int64            `json:"max_hits"`
	Metadata map[string]string `json:"metadata"`
	IP       []string          `json:"ip"`
}

func TestUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		body, want string // want: "" accepted, else the Problem
	}{
		{`{"key":"k","max_hits":1}`, ""},
		{`{"key":"\ud83d\ude00"}`, ""},
		{` { "key" : "k" } `, ""},
		{`{"max_hits":1,"max_hits":-1}`, "max_hits: given more than once"},
		{`{"ke\u0079":"a","key":"b"}`, "key: given more than once"},
		{`{"max_hits":1,"MAX_HITS":-1}`, `unknown field "MAX_HITS"`},
		{`{"max_hit":1}`, `unknown field "max_hit"`},
		{`{"metadata":{"a":"1","a":"2"}}`, "metadata.a: given more than once"},
		{"{\"key\":\"a\xffb\"}", "key: not valid UTF-8"},
		{`{"key":"\ud800.pdf"}`, "key: not valid UTF-8"},
		{`{"ip":["x\udc00"]}`, "ip[0]: not valid UTF-8"},
		{`{"max_hits":"1"}`, "max_hits: must be a JSON integer"},
		{`{"max_hits":1.5}`, "max_hits: must be a JSON integer"},
		{`{"ip":"10.0.0.1"}`, "ip: must be a JSON array"},
		{`{"key":"a"} {"key":"b"}`, "more than one value"},
		{`{"key":`, "invalid JSON"},
		{``, "invalid JSON"},
	} {
		var r req
		err := Unmarshal([]byte(tc.body), &r)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.body, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: accepted, want %q", tc.body, tc.want)
		case tc.want != "" && !strings.EqualFold(Problem(err), tc.want):
			t.Errorf("%s: Problem = %q, want %q (error: %v)", tc.body, Problem(err), tc.want, err)
		}
	}
}
