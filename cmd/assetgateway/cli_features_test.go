package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/client"
)

// cliStore is the least an S3 server must do for presigned URLs: GET (with the
// response-content-disposition override and Range) and PUT of a body with its length. It
// checks no signature, and records whether any request carried an Authorization header
// without being the gateway's own signed call.
type cliStore struct {
	mu        sync.Mutex
	objects   map[string]cliObject
	presigned []string // "METHOD key" of the requests with a presigned URL
	leaked    bool     // a presigned request carried Authorization
}

type cliObject struct {
	data        []byte
	contentType string
}

func (s *cliStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/b/")
	s.mu.Lock()
	if r.URL.Query().Get("X-Amz-Signature") != "" {
		s.presigned = append(s.presigned, r.Method+" "+key)
		s.leaked = s.leaked || r.Header.Get("Authorization") != ""
	}
	obj, found := s.objects[key]
	s.mu.Unlock()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !found {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
			return
		}
		w.Header().Set("Content-Type", obj.contentType)
		w.Header().Set("ETag", `"e"`)
		if cd := r.URL.Query().Get("response-content-disposition"); cd != "" {
			w.Header().Set("Content-Disposition", cd)
		}
		http.ServeContent(w, r, "", time.Unix(1760000000, 0), bytes.NewReader(obj.data))
	case http.MethodPut:
		data, err := io.ReadAll(r.Body)
		if err != nil || int64(len(data)) != r.ContentLength {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.objects[key] = cliObject{data: data, contentType: r.Header.Get("Content-Type")}
		s.mu.Unlock()
		w.Header().Set("ETag", `"stored"`)
	}
}

func (s *cliStore) get(key string) (cliObject, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	return o, ok
}

func TestCLITokenCreateOptionalFields(t *testing.T) {
	g := newCLIGateway(t)
	env := g.env()
	sum := sha256.Sum256([]byte("png"))
	r := (&invocation{env: env}).cli(t, "token", "create", "--bucket", "local", "--key", "up/a.png", "--method", "put",
		"--content-type-allowed", "image/png", "--content-type-allowed", "image/*", "--sha256", hex.EncodeToString(sum[:]),
		"--meta", "owner=user-42", "--meta", "note=a=b", "--if-none-match", "--ip", "127.0.0.1", "--ip", "10.0.0.0/8",
		"--disposition", "inline", "--cache-control", "private, max-age=60", "--delivery", "stream")
	r.want(t, 0)
	rec, err := g.api.GetToken(context.Background(), decode[client.Created](t, r.stdout).Token)
	if err != nil {
		t.Fatal(err)
	}
	want := client.Token{Token: rec.Token, Bucket: "local", Key: "up/a.png", Method: "PUT", ExpireAt: rec.ExpireAt, MaxHits: 1, Size: -1,
		URL: rec.URL, Delivery: "stream", ContentTypes: []string{"image/png", "image/*"}, SHA256: hex.EncodeToString(sum[:]),
		Metadata: map[string]string{"owner": "user-42", "note": "a=b"}, IfNoneMatch: true, IP: []string{"127.0.0.1/32", "10.0.0.0/8"},
		Disposition: "inline", CacheControl: "private, max-age=60"}
	if !reflect.DeepEqual(*rec, want) {
		t.Fatalf("record:\n got %+v\nwant %+v", *rec, want)
	}

	r = (&invocation{env: env}).cli(t, "token", "create", "--bucket", "local", "--key", "up/b.png", "--method", "put", "--s3")
	r.want(t, 0)
	if c := decode[client.Created](t, r.stdout); c.S3 == nil || c.S3.AccessKeyID == "" || c.S3.Key != "up/b.png" ||
		c.S3.Endpoint != "http://s3.gateway.invalid" {
		t.Fatalf("--s3: %s, want the token's S3 credentials", r.stdout)
	}

	r = (&invocation{env: env}).cli(t, "token", "create", "--bucket", "local", "--prefix", "hls/", "--method", "list", "--max-hits", "5")
	r.want(t, 0)
	if rec, err := g.api.GetToken(context.Background(), decode[client.Created](t, r.stdout).Token); err != nil || rec.Prefix != "hls/" || rec.Method != "LIST" || rec.Key != "" {
		t.Fatalf("LIST record: %+v, %v", rec, err)
	}

	create := []string{"token", "create", "--bucket", "local", "--method", "GET"}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"neither key nor prefix", create, 2, "missing --key or --prefix"},
		{"key and prefix", append(create, "--key", "k", "--prefix", "p/"), 2, "not both"},
		{"meta without =", append(create, "--key", "k", "--meta", "owner"), 2, "want NAME=VALUE"},
		{"meta twice", append(create, "--key", "k", "--meta", "a=1", "--meta", "a=2"), 2, "given twice"},
		{"LIST with a key", []string{"token", "create", "--bucket", "local", "--key", "k", "--method", "LIST"}, 1, "LIST needs a prefix"},
		{"redirect on a file bucket", append(create, "--key", "k", "--delivery", "redirect"), 1, "delivery: bucket \"local\" cannot"},
		{"constraint on GET", append(create, "--key", "k", "--if-none-match"), 1, "if_none_match: only for PUT"},
		{"bad ip", append(create, "--key", "k", "--ip", "nowhere"), 1, "ip[0]: not an IP address or CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			(&invocation{env: env}).cli(t, tc.args...).want(t, tc.code, tc.stderr)
		})
	}
}

func TestCLITokenCreateBatch(t *testing.T) {
	g := newCLIGateway(t)
	env := g.env()
	g.mint(t, client.CreateRequest{Token: "taken-custom-token-01", Key: "k", Method: client.MethodGet})
	dir := t.TempDir()
	file := filepath.Join(dir, "batch.json")
	batch := `[{"bucket":"local","key":"b/1.jpg","method":"GET","filename":"1.jpg","max_hits":1},
		{"bucket":"local","prefix":"b/","method":"LIST"}]`
	if err := os.WriteFile(file, []byte(batch), 0o644); err != nil {
		t.Fatal(err)
	}
	r := (&invocation{env: env}).cli(t, "token", "create-batch", file)
	r.want(t, 0)
	results := decode[[]client.BatchResult](t, r.stdout)
	if len(results) != 2 || results[0].Status != 201 || results[0].Filename != "1.jpg" || results[1].Method != "LIST" {
		t.Fatalf("results: %s", r.stdout)
	}
	if rec, err := g.api.GetToken(context.Background(), results[0].Token); err != nil || rec.MaxHits != 1 || rec.Key != "b/1.jpg" {
		t.Fatalf("record: %+v, %v", rec, err)
	}

	// From standard input, as the HTTP body; a taken token: the others are minted, exit 1.
	r = (&invocation{env: env, stdin: strings.NewReader(`{"tokens":[{"bucket":"local","key":"a","method":"GET"},` +
		`{"bucket":"local","key":"b","method":"GET","token":"taken-custom-token-01"}]}`)}).cli(t, "token", "create-batch", "-")
	r.want(t, 1, "1 of 2 tokens not minted (1 token_exists)")
	if results := decode[[]client.BatchResult](t, r.stdout); len(results) != 2 || results[0].Status != 201 || results[1].Code != "token_exists" {
		t.Fatalf("results: %s", r.stdout)
	}

	for _, tc := range []struct {
		name, input string
		code        int
		stderr      string
	}{
		{"misspelt field", `[{"bucket":"local","key":"a","method":"GET","max_hit":1}]`, 1, `item 0: unknown field "max_hit"`},
		{"field in another case", `[{"bucket":"local","key":"a","method":"GET"},{"bucket":"local","key":"a","method":"GET","MAX_HITS":-1}]`, 1, `item 1: unknown field "MAX_HITS"`},
		{"field twice", `[{"bucket":"local","key":"a","method":"GET","max_hits":1,"max_hits":-1}]`, 1, `item 0: max_hits: given more than once`},
		{"wrong type", `[{"bucket":"local","key":"a","method":"GET","max_hits":"1"}]`, 1, "item 0:"},
		{"not an object", `[1]`, 1, "item 0: not a JSON object"},
		{"not JSON", `bucket=local`, 1, "want a JSON array"},
		{"empty", `[]`, 1, "no token descriptions"},
		{"invalid item", `[{"bucket":"local","key":"a","method":"GET"},{"bucket":"nope","key":"a","method":"GET"}]`, 1, "tokens[1].bucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := (&invocation{env: env, stdin: strings.NewReader(tc.input)}).cli(t, "token", "create-batch", "-")
			r.want(t, tc.code, tc.stderr)
			if r.stdout != "" {
				t.Fatalf("stdout %q: nothing should be minted", r.stdout)
			}
		})
	}
	(&invocation{env: env, terminal: true}).cli(t, "token", "create-batch", "-").want(t, 2, "standard input is a terminal")
	(&invocation{env: env}).cli(t, "token", "create-batch").want(t, 2, "missing argument")
	(&invocation{env: env}).cli(t, "token", "create-batch", filepath.Join(dir, "missing.json")).want(t, 1, "no such file")
}

func TestCLIListAndDelete(t *testing.T) {
	g := newCLIGateway(t)
	env := map[string]string{envGateway: g.url}
	for _, k := range []string{"site/index.html", "site/css/main.css", "site/about.html"} {
		g.put(t, k, "<"+k+">")
	}
	list := g.mint(t, client.CreateRequest{Prefix: "site/", Method: client.MethodList})
	r := (&invocation{env: env}).cli(t, "list", g.objectURL(list), "--limit", "2")
	r.want(t, 0)
	page := decode[client.ListPage](t, r.stdout)
	if len(page.Objects) != 2 || page.Objects[0].Key != "about.html" || !page.Truncated || page.NextAfter != "css/main.css" {
		t.Fatalf("first page: %s", r.stdout)
	}
	r = (&invocation{env: env}).cli(t, "list", list.Token, "--after", page.NextAfter) // a bare token, against --gateway
	r.want(t, 0)
	if page := decode[client.ListPage](t, r.stdout); len(page.Objects) != 1 || page.Objects[0].Key != "index.html" || page.Truncated ||
		page.Objects[0].Size != int64(len("<site/index.html>")) {
		t.Fatalf("second page: %s", r.stdout)
	}
	(&invocation{env: env}).cli(t, "list", g.objectURL(list), "--limit", "0").want(t, 2, "--limit")
	(&invocation{env: env}).cli(t, "list").want(t, 2, "missing argument")
	get := g.mint(t, client.CreateRequest{Key: "site/index.html", Method: client.MethodGet})
	(&invocation{env: env}).cli(t, "list", g.objectURL(get)).want(t, 1, "not a listing")

	// An object under a GET prefix token: TOKEN/KEY, or OBJECT-URL/KEY.
	prefix := g.mint(t, client.CreateRequest{Prefix: "site/", Method: client.MethodGet})
	r = (&invocation{env: env}).cli(t, "download", prefix.Token+"/css/main.css", "-")
	r.want(t, 0)
	if r.stdout != "<site/css/main.css>" {
		t.Fatalf("download under the prefix: %q", r.stdout)
	}

	del := g.mint(t, client.CreateRequest{Key: "site/about.html", Method: client.MethodDelete})
	r = (&invocation{env: env}).cli(t, "delete", g.objectURL(del))
	r.want(t, 0)
	if got := decode[map[string]any](t, r.stdout); got["deleted"] != true {
		t.Fatalf("delete: %s", r.stdout)
	}
	(&invocation{env: env}).cli(t, "delete", del.Token).want(t, 1, "hits_exceeded")
	(&invocation{env: env}).cli(t, "delete", get.Token).want(t, 1, "method_not_allowed")
	(&invocation{env: env}).cli(t, "delete").want(t, 2, "missing argument")
}

// TestCLIRedirectDelivery: upload and download follow the gateway's redirect to the bucket.
func TestCLIRedirectDelivery(t *testing.T) {
	g := newCLIGateway(t)
	env := map[string]string{}
	dir := t.TempDir()
	content := strings.Repeat("redirected bytes ", 1000)
	file := filepath.Join(dir, "clip.txt")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	put := g.mint(t, client.CreateRequest{Bucket: "s3", Key: "media/clip.txt", Method: client.MethodPut, Delivery: client.DeliveryRedirect})
	r := (&invocation{env: env, terminal: true}).cli(t, "upload", g.objectURL(put), file)
	r.want(t, 0, "100%")
	if stored, ok := g.s3.get("media/clip.txt"); !ok || string(stored.data) != content || !strings.HasPrefix(stored.contentType, "text/plain") {
		t.Fatalf("stored: %d bytes %q", len(stored.data), stored.contentType)
	}
	if up := decode[client.Uploaded](t, r.stdout); up.Size != int64(len(content)) || up.ETag != "stored" {
		t.Fatalf("upload answer: %s", r.stdout)
	}

	get := g.mint(t, client.CreateRequest{Bucket: "s3", Key: "media/clip.txt", Method: client.MethodGet, Delivery: client.DeliveryRedirect,
		Filename: "片段.txt"})
	r = (&invocation{env: env}).cli(t, "download", g.objectURL(get), dir)
	r.want(t, 0)
	saved := filepath.Join(dir, "片段.txt")
	if b, err := os.ReadFile(saved); err != nil || string(b) != content || r.stdout != saved+"\n" {
		t.Fatalf("download: stdout %q, %v", r.stdout, err)
	}
	r = (&invocation{env: env}).cli(t, "download", "--range", "0-9", g.objectURL(get), "-")
	r.want(t, 0)
	if r.stdout != content[:10] {
		t.Fatalf("range through the redirect: %q", r.stdout)
	}
	g.s3.mu.Lock()
	defer g.s3.mu.Unlock()
	if fmt.Sprint(g.s3.presigned) != "[PUT media/clip.txt GET media/clip.txt GET media/clip.txt]" || g.s3.leaked {
		t.Fatalf("presigned requests at the store: %v (Authorization sent: %v)", g.s3.presigned, g.s3.leaked)
	}
}

// TestCountingReaderSeek: a rewound upload body moves the progress bar back.
func TestCountingReaderSeek(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(1000, 0)
	p := &progressBar{w: &out, label: "upload", total: 10, now: func() time.Time { return clock }, start: clock}
	cr := &countingReader{r: strings.NewReader("0123456789"), p: p}
	if _, err := io.ReadFull(cr, make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	if off, err := cr.Seek(0, io.SeekStart); err != nil || off != 0 || p.n != 0 {
		t.Fatalf("after the rewind: offset %d, bar %d, %v", off, p.n, err)
	}
	if _, err := (&countingReader{r: io.MultiReader(), p: p}).Seek(0, io.SeekCurrent); err == nil {
		t.Fatal("a reader that cannot seek seeked")
	}
}

// TestCLITokenLeadingDash: a token may begin with "-" (one generated token in 64 does); it is
// still an argument, not an unknown flag.
func TestCLITokenLeadingDash(t *testing.T) {
	g := newCLIGateway(t)
	g.mint(t, client.CreateRequest{Token: "-leading-dash-token-01", Key: "k", Method: client.MethodGet})
	r := (&invocation{env: g.env()}).cli(t, "token", "get", "-leading-dash-token-01", "--quiet")
	r.want(t, 0)
	if rec := decode[client.Token](t, r.stdout); rec.Token != "-leading-dash-token-01" {
		t.Fatalf("record: %s", r.stdout)
	}
	(&invocation{env: g.env()}).cli(t, "token", "get", "--", "-leading-dash-token-01").want(t, 0)
	(&invocation{env: g.env()}).cli(t, "token", "get", "-nope").want(t, 2, "flag provided but not defined: -nope")
	(&invocation{env: g.env()}).cli(t, "token", "create", "--bucket", "local", "--key", "k", "--method", "GET",
		"-unknown-but-long-flag").want(t, 2, `unexpected argument "-unknown-but-long-flag"`)
}
