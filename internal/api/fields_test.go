package api

import (
	"strings"
	"testing"
)

func TestLoneSurrogate(t *testing.T) {
	cases := []struct {
		lit  string
		want bool
	}{
		{`"plain"`, false},
		{`"\ud83d\ude00"`, false}, // a pair: 😀
		{`"\uD83D\uDE00"`, false},
		{`"a\ud800b"`, true},
		{`"\udc00"`, true},
		{`"\ud800"`, true},
		{`"\ud800\u0041"`, true},
		{`"\\ud800"`, false}, // an escaped backslash, then text
		{`"\\\ud800"`, true},
		{`"\u00e9"`, false},
		{`"\u12"`, false}, // malformed escapes are the decoder's business
	}
	for _, c := range cases {
		if got := loneSurrogate([]byte(c.lit)); got != c.want {
			t.Errorf("loneSurrogate(%s): got %v, want %v", c.lit, got, c.want)
		}
	}
}

func TestCheckFields(t *testing.T) {
	cases := []struct {
		body, want string // want: "" accepted, else a word of the message
	}{
		{`{"bucket":"b","key":"k","method":"GET"}`, ""},
		{`{"bucket":"b","MAX_HITS":-1}`, "MAX_HITS"},
		{`{"max_hits":1,"max_hits":-1}`, "more than once"},
		{`{"key":"a` + "\xff" + `b"}`, "key"},
		{`{"filename":"\ud800.pdf"}`, "filename"},
		{`{"key":"\ud83d\ude00"}`, ""},
		{`[1,2]`, ""},   // not an object: the decoder's error
		{`{"key":`, ""}, // truncated: the decoder's error
		{`{"ke\u0079":"a","key":"b"}`, "more than once"},
		{` { "bucket" : "b" , "size" : -1 , "callback" : "https://x/?a={\"b\":[1]}" } `, ""},
		{`{"bucket":{"nested":["x\uD800"]}}`, ""}, // nested values are the decoder's business
	}
	for _, c := range cases {
		e := checkFields([]byte(c.body), createFields)
		switch {
		case c.want == "" && e != nil:
			t.Errorf("%s: got %v, want accepted", c.body, e)
		case c.want != "" && (e == nil || !strings.Contains(e.Message, c.want)):
			t.Errorf("%s: got %v, want a 400 naming %q", c.body, e, c.want)
		}
	}
}
