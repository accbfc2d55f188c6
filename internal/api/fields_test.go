package api

import (
	"strings"
	"testing"

	"github.com/assetgateway/assetgateway/internal/strictjson"
)

// TestCreateRequestDecoding: POST /token's body is decoded strictly, and each refusal names
// what is wrong (what encoding/json would have let through is listed first).
func TestCreateRequestDecoding(t *testing.T) {
	cases := []struct {
		body, want string // want: "" accepted, else a word of the message
	}{
		{`{"bucket":"b","key":"k","method":"GET"}`, ""},
		{`{"bucket":"b","MAX_HITS":-1}`, "MAX_HITS"},
		{`{"max_hits":1,"max_hits":-1}`, "more than once"},
		{`{"key":"a` + "\xff" + `b"}`, "key"},
		{`{"filename":"\ud800.pdf"}`, "filename"},
		{`{"ke\u0079":"a","key":"b"}`, "more than once"},
		{`{"metadata":{"owner":"a","owner":"b"}}`, "metadata.owner"},
		{`{"ip":["10.0.0.1","\udc00"]}`, "ip[1]"},
		{`{"key":"\ud83d\ude00"}`, ""},
		{` { "bucket" : "b" , "size" : -1 , "callback" : "https://x/?a={\"b\":[1]}" } `, ""},
		{`{"max_hits":"3"}`, "max_hits: must be a JSON integer"},
		{`{"key":"a"} {"key":"b"}`, "more than one value"},
		{`[1,2]`, "invalid JSON body"},
		{`{"key":`, "invalid JSON body"},
	}
	for _, c := range cases {
		var req createRequest
		err := strictjson.Unmarshal([]byte(c.body), &req)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: got %v, want accepted", c.body, err)
		case c.want != "" && (err == nil || !strings.Contains(jsonProblem(err), c.want)):
			t.Errorf("%s: got %v (%q), want a 400 naming %q", c.body, err, jsonProblem(err), c.want)
		}
	}
}
