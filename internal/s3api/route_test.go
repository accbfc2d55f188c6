package s3api

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/sigv4"
	"github.com/assetgateway/assetgateway/internal/token"
)

func TestRoute(t *testing.T) {
	tests := []struct {
		method, target string
		copy           bool
		want           opKind // 0: refused
		key            string
	}{
		{"GET", "/", false, opListBuckets, ""},
		{"GET", "/b?location", false, opGetBucketLocation, ""},
		{"HEAD", "/b", false, opHeadBucket, ""},
		{"HEAD", "/b/", false, opHeadBucket, ""},
		{"GET", "/b?list-type=2&prefix=a%2F&delimiter=%2F&encoding-type=url", false, opListObjectsV2, ""},
		{"GET", "/b/k?x-id=GetObject", false, opGetObject, "k"},
		{"GET", "/b/dir//k/", false, opGetObject, "dir//k/"},
		{"HEAD", "/b/k", false, opHeadObject, "k"},
		{"PUT", "/b/k", false, opPutObject, "k"},
		{"DELETE", "/b/k", false, opDeleteObject, "k"},
		{"POST", "/b/k?uploads", false, opCreateMultipartUpload, "k"},
		{"PUT", "/b/k?partNumber=3&uploadId=U", false, opUploadPart, "k"},
		{"POST", "/b/k?uploadId=U", false, opCompleteMultipartUpload, "k"},
		{"DELETE", "/b/k?uploadId=U", false, opAbortMultipartUpload, "k"},
		{"GET", "/b/k?uploadId=U&max-parts=2", false, opListParts, "k"},
		{"GET", "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=0", false, opGetObject, "k"},
		// Refused: anything else, never served as what it resembles.
		{"GET", "/b", false, 0, ""},                      // ListObjects v1
		{"GET", "/b?list-type=2&versions", false, 0, ""}, // an unknown parameter
		{"GET", "/b?uploads", false, 0, ""},              // ListMultipartUploads
		{"POST", "/b?delete", false, opDeleteObjects, ""},
		{"PUT", "/b", false, 0, ""}, // CreateBucket
		{"DELETE", "/b", false, 0, ""},
		{"GET", "/b/k?acl", false, 0, ""},
		{"GET", "/b/k?versionId=1", false, 0, ""},
		{"PUT", "/b/k?tagging", false, 0, ""},
		{"PUT", "/b/k", true, 0, ""}, // CopyObject
		{"PUT", "/b/k?partNumber=1&uploadId=U", true, 0, ""},
		{"POST", "/b/k?restore", false, 0, ""},
		{"PATCH", "/b/k", false, 0, ""},
		{"OPTIONS", "/b/k", false, 0, ""},
		{"PUT", "/", false, 0, ""},
		{"GET", "//k", false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			u, err := url.Parse(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			if tt.copy {
				h.Set("X-Amz-Copy-Source", "b/other")
			}
			o, err := route(tt.method, u.Path, u.Query(), h)
			if tt.want == 0 {
				var se *sigv4.Error
				if err == nil || !strings.Contains(err.Error(), "AccessDenied") || !errorsAs(err, &se) || se.Status != 403 {
					t.Fatalf("got %v, %v; want AccessDenied", o.kind, err)
				}
				return
			}
			if err != nil || o.kind != tt.want || o.key != tt.key {
				t.Fatalf("got %v %q, %v; want %v %q", o.kind, o.key, err, tt.want, tt.key)
			}
		})
	}
}

func TestRouteMultipartArguments(t *testing.T) {
	for _, target := range []string{"/b/k?partNumber=0&uploadId=U", "/b/k?partNumber=10001&uploadId=U", "/b/k?partNumber=x&uploadId=U",
		"/b/k?partNumber=1", "/b/k?partNumber=1&uploadId=U&uploadId=V"} {
		u, _ := url.Parse(target)
		if _, err := route("PUT", u.Path, u.Query(), http.Header{}); err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
			t.Errorf("PUT %s: got %v, want InvalidArgument", target, err)
		}
	}
	if _, err := route("GET", "/b/"+strings.Repeat("k", 1025), nil, http.Header{}); err == nil || !strings.Contains(err.Error(), codeKeyTooLong) {
		t.Errorf("a 1025-byte key: got %v, want %s", err, codeKeyTooLong)
	}
}

func errorsAs(err error, target **sigv4.Error) bool {
	se, ok := err.(*sigv4.Error)
	*target = se
	return ok
}

func TestKeys(t *testing.T) {
	k := NewKeys(testServerKey)
	id := token.ID("a-token-of-sixteen-or-more")
	nonce := k.NewNonce()
	akid, secret := k.Credentials(id, nonce)
	gotID, gotNonce, ok := parseAccessKey(akid)
	if !ok || gotID != id || gotNonce != nonce {
		t.Fatalf("parseAccessKey(%q): %q %q %v", akid, gotID, gotNonce, ok)
	}
	if s, err := k.Secret(context.Background(), akid); err != nil || s != secret {
		t.Fatalf("Secret: derived %q, %v; want the issued secret", s, err)
	}
	if s, _ := NewKeys(testServerKey+"x").Secret(context.Background(), akid); s == secret {
		t.Fatal("another server key derives the same secret")
	}
	akid2, secret2 := k.Credentials(id, k.NewNonce())
	if akid2 == akid || secret2 == secret {
		t.Fatal("a second minting got the same credentials")
	}
	for _, bad := range []string{"", "AKIAIOSFODNN7EXAMPLE", "AG" + id, "XX" + id + nonce, "AG" + id + "nonce/12", akid + "x"} {
		if _, err := k.Secret(context.Background(), bad); err != sigv4.ErrUnknownAccessKey {
			t.Errorf("Secret(%q): got %v, want ErrUnknownAccessKey", bad, err)
		}
	}
	if got, want := logID(id), token.LogID("a-token-of-sixteen-or-more"); got != want {
		t.Errorf("logID: got %q, want token.LogID's %q", got, want)
	}
}

// listBackend lists a sorted key set, page by page, as objstore.Backend.List does.
type listBackend struct {
	objstore.Backend
	keys  []string
	page  int
	calls int
}

func (b *listBackend) List(_ context.Context, prefix, after string, limit int) (objstore.ListPage, error) {
	b.calls++
	var page objstore.ListPage
	for _, k := range b.keys {
		if !strings.HasPrefix(k, prefix) || after != "" && k <= prefix+after { // as S3's StartAfter
			continue
		}
		if len(page.Entries) == min(limit, b.page) {
			page.Truncated = true
			break
		}
		page.Entries = append(page.Entries, objstore.ListEntry{Key: k})
	}
	return page, nil
}

// TestWalkAgainstAModel pages random key sets with random prefixes, delimiters and page sizes
// (the store's and the client's) and compares the union of the pages with a plain fold of
// the keys: nothing lost, nothing twice, nothing outside base.
func TestWalkAgainstAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "/", "-", "ü", "\U0010FFFF"}
	word := func(n int) string {
		var b strings.Builder
		for range rng.IntN(n) + 1 {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for round := range 400 {
		set := map[string]bool{}
		for range rng.IntN(40) {
			set[word(6)] = true
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range set {
				if !yield(k) {
					return
				}
			}
		})
		// base and prefix: each a prefix of the other, base the longer (as listObjects picks).
		short, long := word(2), ""
		if rng.IntN(2) == 0 {
			long = short + word(2)
		}
		base, prefix := short+long[len(long):], short
		if long != "" {
			base = long
		}
		delim := []string{"", "/", "b"}[rng.IntN(3)]
		be := &listBackend{keys: keys, page: rng.IntN(4) + 1}
		l := listQuery{prefix: prefix, delimiter: delim, max: rng.IntN(4) + 1}
		var gotKeys, gotPrefixes []string
		for pages := 0; ; pages++ {
			if pages > 200 {
				t.Fatalf("round %d: no end to the pages", round)
			}
			p, err := walk(context.Background(), be, base, l)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.contents {
				gotKeys = append(gotKeys, e.Key)
			}
			gotPrefixes = append(gotPrefixes, p.prefixes...)
			if !p.truncated {
				break
			}
			next, _ := parseListQuery(url.Values{"continuation-token": {base64.RawURLEncoding.EncodeToString([]byte(p.next))}})
			l.after, l.skip = next.after, next.skip
		}
		wantKeys, wantPrefixes := fold(keys, base, prefix, delim)
		if !slices.Equal(gotKeys, wantKeys) || !slices.Equal(gotPrefixes, wantPrefixes) {
			t.Fatalf("round %d: keys %q base %q prefix %q delimiter %q page %d max %d:\ngot  %q %q\nwant %q %q",
				round, keys, base, prefix, delim, be.page, l.max, gotKeys, gotPrefixes, wantKeys, wantPrefixes)
		}
	}
}

// fold is ListObjectsV2 over the whole key set, without pages.
func fold(keys []string, base, prefix, delim string) (out, prefixes []string) {
	for _, k := range keys {
		if !strings.HasPrefix(k, base) {
			continue
		}
		if i := strings.Index(k[len(prefix):], delim); delim != "" && i >= 0 {
			cp := k[:len(prefix)+i+len(delim)]
			if !slices.Contains(prefixes, cp) {
				prefixes = append(prefixes, cp)
			}
			continue
		}
		out = append(out, k)
	}
	return out, prefixes
}

// FuzzRoute: the router never panics, and what it accepts is well-formed.
func FuzzRoute(f *testing.F) {
	f.Add("GET", "/b/k", "x-id=GetObject")
	f.Add("PUT", "/b/k", "partNumber=1&uploadId=U")
	f.Add("POST", "/b/k", "uploads")
	f.Add("GET", "/b", "list-type=2&prefix=a&delimiter=%2F")
	f.Add("GET", "/", "")
	f.Fuzz(func(t *testing.T, method, path, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return // sigv4 refuses such a query before routing
		}
		o, err := route(method, path, q, http.Header{})
		if err != nil {
			var se *sigv4.Error
			if !errorsAs(err, &se) || se.Status == 0 || se.Code == "" {
				t.Fatalf("error without a code and status: %v", err)
			}
			return
		}
		switch {
		case o.kind.String() == "":
			t.Fatalf("unnamed operation %d", o.kind)
		case o.kind != opListBuckets && o.bucket == "":
			t.Fatalf("%v without a bucket", o.kind)
		case len(o.key) > maxKeyBytes:
			t.Fatalf("a key of %d bytes", len(o.key))
		case "/"+o.bucket+"/"+o.key != path && "/"+o.bucket != path && o.kind >= opGetObject:
			t.Fatalf("bucket %q and key %q do not make %q", o.bucket, o.key, path)
		case o.kind == opUploadPart && (o.part < 1 || o.part > 10000 || o.uploadID == ""):
			t.Fatalf("UploadPart with part %d, upload %q", o.part, o.uploadID)
		}
		for name := range q {
			if !known(o.kind, name) {
				t.Fatalf("%v accepted the parameter %q", o.kind, name)
			}
		}
	})
}

// FuzzListQuery: any ListObjectsV2 query (continuation token, start-after, max-keys,
// delimiter) lists only keys under base, in order, each once, at most max-keys entries, and
// never loops.
func FuzzListQuery(f *testing.F) {
	f.Add("pub/", "/", "2", base64.RawURLEncoding.EncodeToString([]byte("ppub/a/")), "")
	f.Add("pub/a", "", "1000", "", "pub/b")
	f.Add("", "b", "0", "!!", "\U0010FFFF")
	keys := []string{"other", "pub/", "pub/a", "pub/a/b", "pub/a/c", "pub/ab", "pub/b/\U0010FFFF", "pub/b/\U0010FFFFx", "pub/c", "pubsecret"}
	f.Fuzz(func(t *testing.T, prefix, delimiter, maxKeys, token, startAfter string) {
		l, err := parseListQuery(url.Values{"prefix": {prefix}, "delimiter": {delimiter}, "max-keys": {maxKeys},
			"continuation-token": {token}, "start-after": {startAfter}})
		if err != nil {
			return
		}
		base := "pub/"
		switch {
		case strings.HasPrefix(base, l.prefix):
		case strings.HasPrefix(l.prefix, base):
			base = l.prefix
		default:
			return // refused before any listing
		}
		be := &listBackend{keys: keys, page: 2}
		p, err := walk(context.Background(), be, base, l)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(p.contents) + len(p.prefixes); n > l.max || be.calls > len(keys)+2 {
			t.Fatalf("%d entries for max-keys %d, %d store calls", n, l.max, be.calls)
		}
		seen := map[string]bool{}
		last := ""
		for _, e := range p.contents {
			if !strings.HasPrefix(e.Key, base) || seen[e.Key] || e.Key < last || l.after != "" && e.Key <= l.after {
				t.Fatalf("key %q: outside %q, twice, out of order or not after %q", e.Key, base, l.after)
			}
			seen[e.Key], last = true, e.Key
		}
		for _, cp := range p.prefixes {
			if seen[cp] || !strings.HasPrefix(cp, l.prefix) || delimiter == "" {
				t.Fatalf("common prefix %q: twice, outside %q, or without a delimiter", cp, l.prefix)
			}
			seen[cp] = true
		}
	})
}
