package s3api

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/assetgateway/assetgateway/internal/token"
)

// listAll pages through ListObjectsV2 with the SDK's paginator.
func listAll(t *testing.T, c *s3.Client, prefix, delimiter string, pageSize int32) (keys, prefixes []string, pages int) {
	t.Helper()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(testAlias), Prefix: aws.String(prefix), MaxKeys: aws.Int32(pageSize)}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	p := s3.NewListObjectsV2Paginator(c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListObjectsV2 %q %q page %d: %v", prefix, delimiter, pages+1, err)
		}
		pages++
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		for _, cp := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(cp.Prefix))
		}
	}
	return keys, prefixes, pages
}

func TestListObjectsV2(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	var all []string
	for _, k := range []string{"pub/a", "pub/b c+d", "pub/ünï", "pub/d1/x", "pub/d1/y", "pub/d2/z", "pub/e", "pubsecret", "other/k"} {
		ts.bucket.Put(ctx, putInput(k, k))
		if len(k) > 4 && k[:4] == "pub/" {
			all = append(all, k)
		}
	}
	slices.Sort(all)
	tok, c := ts.mint(t, token.Record{Prefix: "pub/", Method: token.MethodList})
	tests := []struct {
		name, prefix, delimiter string
		size                    int32
		keys, prefixes          []string
	}{
		{"whole folder", "pub/", "", 1000, all, nil},
		{"whole folder, pages of 2", "pub/", "", 2, all, nil},
		{"folded", "pub/", "/", 1000, []string{"pub/a", "pub/b c+d", "pub/e", "pub/ünï"}, []string{"pub/d1/", "pub/d2/"}},
		{"folded, pages of 1", "pub/", "/", 1, []string{"pub/a", "pub/b c+d", "pub/e", "pub/ünï"}, []string{"pub/d1/", "pub/d2/"}},
		{"from the root", "", "/", 1000, nil, []string{"pub/"}},
		{"a shorter prefix", "pu", "", 1000, all, nil},
		{"inside", "pub/d1/", "", 1000, []string{"pub/d1/x", "pub/d1/y"}, nil},
	}
	hits := int64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, prefixes, pages := listAll(t, c, tt.prefix, tt.delimiter, tt.size)
			hits += int64(pages)
			if !slices.Equal(keys, tt.keys) || !slices.Equal(prefixes, tt.prefixes) {
				t.Fatalf("got keys %q prefixes %q, want %q %q", keys, prefixes, tt.keys, tt.prefixes)
			}
			if got := ts.used(t, tok); got != hits {
				t.Fatalf("used_hits: got %d, want one per page (%d)", got, hits)
			}
		})
	}
	for _, prefix := range []string{"other/", "pubs"} {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testAlias), Prefix: aws.String(prefix)})
		wantAPIError(t, "listing "+prefix, err, "AccessDenied", "another bucket or key")
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("pub/d1/x")}); err != nil {
		t.Fatalf("GetObject under a LIST token's prefix: %v", err)
	}
	_, get := ts.mint(t, token.Record{Prefix: "pub/", Method: token.MethodGet})
	_, err := get.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testAlias), Prefix: aws.String("pub/")})
	wantAPIError(t, "listing with a GET token", err, "AccessDenied", "does not grant")
}

// TestListURLEncoding: with encoding-type=url (botocore's default, which decodes the answer)
// keys come back percent-encoded; aws-sdk-go-v2 hands them over as they came.
func TestListURLEncoding(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.bucket.Put(ctx, putInput("pub/a b&c", "x"))
	_, c := ts.mint(t, token.Record{Prefix: "pub/", Method: token.MethodList})
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testAlias), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "pub/a%20b%26c" {
		t.Fatalf("got %+v, want the key encoded as pub/a%%20b%%26c", out.Contents)
	}
}

// TestListOwnKey: a key token lists its own key, and nothing else, for free.
func TestListOwnKey(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	for _, k := range []string{"docs/a.txt", "docs/a.txt.bak", "docs/b.txt"} {
		ts.bucket.Put(ctx, putInput(k, k))
	}
	tok, c := ts.mint(t, token.Record{Key: "docs/a.txt", Method: token.MethodGet, MaxHits: 1})
	for _, tt := range []struct{ prefix, delimiter, want string }{
		{"docs/a.txt", "/", "docs/a.txt"}, {"docs/", "", "docs/a.txt"}, {"", "/", "docs/"}, {"docs/a", "", "docs/a.txt"},
	} {
		keys, prefixes, _ := listAll(t, c, tt.prefix, tt.delimiter, 1000)
		if got := strings.Join(append(keys, prefixes...), ","); got != tt.want {
			t.Errorf("listing %q %q: got %q, want %q", tt.prefix, tt.delimiter, got, tt.want)
		}
	}
	_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testAlias), Prefix: aws.String("docs/b")})
	wantAPIError(t, "a prefix beside the key", err, "AccessDenied", "another bucket or key")
	if ts.used(t, tok) != 0 {
		t.Fatalf("listing the own key cost %d hits, want none", ts.used(t, tok))
	}
}

func TestBucketCalls(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	tok, c := ts.mint(t, token.Record{Key: "k", Method: token.MethodGet})
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != testAlias {
		t.Fatalf("ListBuckets: %v %+v", err, lb)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(testAlias)}); err != nil {
		t.Fatalf("HeadBucket: %v", err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("other")})
	wantStatus(t, "HeadBucket of another bucket", err, 403)
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(testAlias)})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("GetBucketLocation: %v %q, want the empty constraint of us-east-1", err, loc.LocationConstraint)
	}
	if ts.used(t, tok) != 0 {
		t.Fatal("bucket calls cost a hit")
	}
	if err := ts.store.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, "ListBuckets of a revoked token", err, "AccessDenied", "revoked")
}

func ExampleKeys_Credentials() {
	k := NewKeys("a server key of at least 32 characters")
	nonce := k.NewNonce()
	akid, secret := k.Credentials("AAAAAAAAAAAAAAAAAAAAAA", nonce)
	fmt.Println(len(nonce), len(akid), akid[:24], len(secret))
	// Output: 8 32 AGAAAAAAAAAAAAAAAAAAAAAA 40
}
