package s3api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

func TestPutGetHeadDelete(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	body := bytes.Repeat([]byte("0123456789"), 7000)
	putTok, put := ts.mint(t, token.Record{Key: "docs/a.txt", Method: token.MethodPut, MaxHits: 1})
	out, err := put.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testAlias), Key: aws.String("docs/a.txt"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if aws.ToString(out.ETag) == "" || ts.used(t, putTok) != 1 {
		t.Fatalf("PutObject: etag %q, used_hits %d; want an etag and 1", aws.ToString(out.ETag), ts.used(t, putTok))
	}
	rec, _ := ts.store.Get(ctx, putTok)
	if !rec.Uploaded {
		t.Error("the token is not marked uploaded")
	}

	getTok, get := ts.mint(t, token.Record{Key: "docs/a.txt", Method: token.MethodGet, MaxHits: 3})
	obj, err := get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("docs/a.txt")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, body) || aws.ToString(obj.ContentType) != "text/plain" {
		t.Fatalf("GetObject: %d bytes of %s, want %d bytes of text/plain", len(got), aws.ToString(obj.ContentType), len(body))
	}
	part, err := get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("docs/a.txt"), Range: aws.String("bytes=10-19")})
	if err != nil {
		t.Fatalf("GetObject Range: %v", err)
	}
	got, _ = io.ReadAll(part.Body)
	part.Body.Close()
	if string(got) != "0123456789" || aws.ToString(part.ContentRange) != "bytes 10-19/70000" {
		t.Fatalf("GetObject Range: %q %q", got, aws.ToString(part.ContentRange))
	}
	_, err = get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("docs/a.txt"), IfNoneMatch: obj.ETag})
	wantStatus(t, "GetObject If-None-Match", err, http.StatusNotModified)
	_, err = get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("docs/a.txt"), Range: aws.String("bytes=90000-")})
	wantAPIError(t, "GetObject past the end", err, "InvalidRange", "not satisfiable")
	head, err := get.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testAlias), Key: aws.String("docs/a.txt")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Fatalf("HeadObject: %v, length %d", err, aws.ToInt64(head.ContentLength))
	}
	// Two bodies delivered; the 304 and the 416 handed their hits back; HEAD costs none.
	if n := ts.used(t, getTok); n != 2 {
		t.Fatalf("used_hits after GET, Range, 304, 416, HEAD: got %d, want 2", n)
	}

	delTok, del := ts.mint(t, token.Record{Key: "docs/a.txt", Method: token.MethodDelete, MaxHits: 1})
	if _, err := del.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(testAlias), Key: aws.String("docs/a.txt")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if ts.used(t, delTok) != 1 {
		t.Fatal("DeleteObject did not cost a hit")
	}
	_, err = get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("docs/a.txt")})
	wantAPIError(t, "GetObject of the deleted key", err, "NoSuchKey", "does not exist")
	if n := ts.used(t, getTok); n != 2 {
		t.Fatalf("used_hits after a NoSuchKey: got %d, want 2 (refunded)", n)
	}

	methods := map[string]int{}
	for _, ev := range ts.events.Events() {
		methods[ev.Method]++
		if ev.Bucket != testAlias || ev.Key != "docs/a.txt" || ev.RequestID == "" {
			t.Errorf("webhook %+v: want bucket %s, key docs/a.txt and a request id", ev, testAlias)
		}
	}
	if methods["PUT"] != 1 || methods["GET"] != 2 || methods["HEAD"] != 1 || methods["DELETE"] != 1 {
		t.Errorf("webhooks by method: got %v, want PUT 1, GET 2, HEAD 1, DELETE 1", methods)
	}
	// The bytes metric counts the object bytes stored and delivered, as /object's does: the
	// whole GET and the range; not the 304, the 416's error document or the NoSuchKey.
	if in, out := ts.meter.get("in"), ts.meter.get("out"); in != int64(len(body)) || out != int64(len(body))+10 {
		t.Errorf("object bytes: in %d, out %d; want %d and %d", in, out, len(body), len(body)+10)
	}
}

// TestRefusals: each refused case answers the S3 error a client prints, and costs nothing.
func TestRefusals(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.bucket.Put(ctx, putInput("k", "data"))
	getTok, get := ts.mint(t, token.Record{Key: "k", Method: token.MethodGet, MaxHits: 1})
	_, err := get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("other")})
	wantAPIError(t, "another key", err, "AccessDenied", "another bucket or key")
	_, err = get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("elsewhere"), Key: aws.String("k")})
	wantAPIError(t, "another bucket", err, "AccessDenied", "another bucket or key")
	_, err = get.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantAPIError(t, "PUT with a GET token", err, "AccessDenied", "does not grant")
	_, err = get.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String(testAlias), Key: aws.String("k")})
	wantAPIError(t, "a sub-resource", err, "AccessDenied", "acl")
	_, err = get.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k"), CopySource: aws.String(testAlias + "/k")})
	wantAPIError(t, "a copy", err, "AccessDenied", "Access Denied")
	if ts.used(t, getTok) != 0 {
		t.Fatalf("refusals cost %d hits, want 0", ts.used(t, getTok))
	}
	if _, err := get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	_, err = get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k")})
	wantAPIError(t, "exhausted", err, "AccessDenied", "no hits left")

	akid, secret := ts.keys.Credentials(token.ID(getTok), ts.keys.NewNonce()) // another minting
	_, err = ts.client(akid, secret).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k")})
	wantAPIError(t, "credentials of another minting", err, "AccessDenied", "does not exist")
	_, err = ts.client(akid, secret[1:]+"x").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k")})
	wantAPIError(t, "wrong secret", err, "SignatureDoesNotMatch", "signature")
	_, err = ts.client("AKIAIOSFODNN7EXAMPLE", secret).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k")})
	wantAPIError(t, "unknown access key", err, "InvalidAccessKeyId", "does not exist")

	revTok, rev := ts.mint(t, token.Record{Key: "k", Method: token.MethodGet})
	if err := ts.store.Delete(ctx, revTok); err != nil {
		t.Fatal(err)
	}
	_, err = rev.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k")})
	wantAPIError(t, "revoked", err, "AccessDenied", "revoked")

	_, exp := ts.mint(t, token.Record{Key: "k", Method: token.MethodGet, ExpireAt: time.Now().Add(-time.Second).Unix()})
	_, err = exp.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k")})
	wantAPIError(t, "expired", err, "AccessDenied", "expired")

	_, ipb := ts.mint(t, token.Record{Key: "k", Method: token.MethodGet, IPs: []string{"192.0.2.0/24"}})
	_, err = ipb.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("k")})
	wantAPIError(t, "another address", err, "AccessDenied", "address")

	capTok, capped := ts.mint(t, token.Record{Key: "big", Method: token.MethodPut, MaxHits: 1, Size: 10})
	_, err = capped.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testAlias), Key: aws.String("big"), Body: strings.NewReader("more than ten bytes")})
	wantAPIError(t, "over the size cap", err, "EntityTooLarge", "size limit")
	if ts.used(t, capTok) != 0 {
		t.Fatal("a refused upload kept its hit")
	}
	_, ct := ts.mint(t, token.Record{Key: "img", Method: token.MethodPut, ContentTypes: []string{"image/*"}})
	_, err = ct.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testAlias), Key: aws.String("img"), Body: strings.NewReader("x"), ContentType: aws.String("text/html")})
	wantAPIError(t, "a content type the token refuses", err, "AccessDenied", "Content-Type")
}

// TestConcurrentGets: 50 concurrent GetObject calls on a max_hits 5 token: exactly 5 succeed.
func TestConcurrentGets(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.bucket.Put(ctx, putInput("hot", "hot object"))
	tok, c := ts.mint(t, token.Record{Key: "hot", Method: token.MethodGet, MaxHits: 5})
	var ok, denied atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("hot")})
			if err != nil {
				denied.Add(1)
				return
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) == "hot object" {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 || denied.Load() != 45 || ts.used(t, tok) != 5 {
		t.Fatalf("got %d served, %d denied, used_hits %d; want 5, 45, 5", ok.Load(), denied.Load(), ts.used(t, tok))
	}
}

func TestPresignedGet(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.bucket.Put(ctx, putInput("p/q.txt", "presigned"))
	tok, c := ts.mint(t, token.Record{Key: "p/q.txt", Method: token.MethodGet})
	req, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String("p/q.txt")},
		s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned" || ts.used(t, tok) != 1 {
		t.Fatalf("presigned GET: %d %q, used_hits %d", resp.StatusCode, b, ts.used(t, tok))
	}
	resp, err = http.Get(strings.Replace(req.URL, "/p/q.txt", "/p/other", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a presigned URL edited to another key: got %d, want 403", resp.StatusCode)
	}
}

func TestPrefixToken(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	for _, k := range []string{"pub/a", "pub/sub/b", "pubsecret"} {
		ts.bucket.Put(ctx, putInput(k, k))
	}
	_, c := ts.mint(t, token.Record{Prefix: "pub", Method: token.MethodGet})
	for key, want := range map[string]string{"pub/a": "", "pub/sub/b": "", "pubsecret": "AccessDenied", "pub/../pubsecret": "InvalidArgument"} {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testAlias), Key: aws.String(key)})
		if want == "" {
			if err != nil {
				t.Fatalf("GetObject %s: %v", key, err)
			}
			out.Body.Close()
			continue
		}
		wantAPIError(t, "GetObject "+key, err, want, "")
	}
}

// TestDeleteObjects: each key is a DeleteObject of its own (mc rm sends DeleteObjects).
func TestDeleteObjects(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.bucket.Put(ctx, putInput("d/x", "x"))
	tok, c := ts.mint(t, token.Record{Key: "d/x", Method: token.MethodDelete, MaxHits: 1})
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(testAlias), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("d/x")}, {Key: aws.String("d/y")}, {Key: aws.String("d/x")}}}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	if len(out.Deleted) != 1 || aws.ToString(out.Deleted[0].Key) != "d/x" || len(out.Errors) != 2 ||
		aws.ToString(out.Errors[0].Code) != "AccessDenied" || !strings.Contains(aws.ToString(out.Errors[1].Message), "no hits left") {
		t.Fatalf("DeleteObjects: deleted %+v, errors %+v", out.Deleted, out.Errors)
	}
	if _, err := ts.bucket.Head(ctx, "d/x", objstore.Conditions{}); err == nil || ts.used(t, tok) != 1 {
		t.Fatalf("d/x still there (%v) or used_hits %d, want 1", err, ts.used(t, tok))
	}
}
