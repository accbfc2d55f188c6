package s3api

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// multipartUpload creates an upload of key and sends parts of the given sizes; it returns
// the upload id and the parts to complete.
func multipartUpload(t *testing.T, c *s3.Client, key string, sizes ...int) (string, []types.CompletedPart, []byte) {
	t.Helper()
	ctx := context.Background()
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(testAlias), Key: aws.String(key),
		ContentType: aws.String("video/mp4")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	var all []byte
	var parts []types.CompletedPart
	for i, n := range sizes {
		body := bytes.Repeat([]byte{byte('a' + i)}, n)
		all = append(all, body...)
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(testAlias), Key: aws.String(key), UploadId: mp.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	return aws.ToString(mp.UploadId), parts, all
}

func TestMultipart(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	tok, c := ts.mint(t, token.Record{Key: "v/movie.mp4", Method: token.MethodPut, MaxHits: 1})
	id, parts, data := multipartUpload(t, c, "v/movie.mp4", objstore.MinPartSize, 1000)
	if ts.used(t, tok) != 1 {
		t.Fatalf("used_hits during the upload: got %d, want 1 (Create's)", ts.used(t, tok))
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(testAlias), Key: aws.String("v/movie.mp4"), UploadId: aws.String(id)})
	if err != nil || len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[1].Size) != 1000 {
		t.Fatalf("ListParts: %v, %+v", err, lp)
	}
	if _, err := ts.bucket.Head(ctx, "v/movie.mp4", objstore.Conditions{}); err == nil {
		t.Fatal("the object is visible before Complete")
	}
	bad := []types.CompletedPart{parts[0], {PartNumber: parts[1].PartNumber, ETag: aws.String(`"0123"`)}}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(testAlias), Key: aws.String("v/movie.mp4"),
		UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
	wantAPIError(t, "Complete with a wrong ETag", err, "InvalidPart", "could not be found")
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(testAlias), Key: aws.String("v/movie.mp4"),
		UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	obj, err := ts.bucket.Get(ctx, "v/movie.mp4", objstore.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, data) || obj.ContentType != "video/mp4" || aws.ToString(done.ETag) == "" {
		t.Fatalf("the completed object: %d bytes of %s, etag %q", len(got), obj.ContentType, aws.ToString(done.ETag))
	}
	if ts.used(t, tok) != 1 {
		t.Fatalf("used_hits after Complete: got %d, want 1", ts.used(t, tok))
	}
	if _, _, err := ts.store.Upload(ctx, token.ID(tok), id); err == nil {
		t.Fatal("the session outlived its completion")
	}
	rec, _ := ts.store.Get(ctx, tok)
	puts := 0
	for _, ev := range ts.events.Events() {
		if ev.Method == "PUT" && ev.Size == int64(len(data)) {
			puts++
		}
	}
	if !rec.Uploaded || puts != 1 {
		t.Fatalf("after Complete: uploaded %v, %d PUT webhooks; want true, 1", rec.Uploaded, puts)
	}
	if in := ts.meter.get("in"); in != int64(len(data)) {
		t.Errorf("object bytes in: %d, want the parts' %d", in, len(data))
	}
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(testAlias), Key: aws.String("v/movie.mp4")})
	wantAPIError(t, "a second upload on a one-hit token", err, "AccessDenied", "no hits left")
}

func TestMultipartAbortHandsTheHitBack(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	tok, c := ts.mint(t, token.Record{Key: "a.bin", Method: token.MethodPut, MaxHits: 1})
	id, _, _ := multipartUpload(t, c, "a.bin", 100)
	_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(testAlias), Key: aws.String("other.bin"), UploadId: aws.String(id),
		PartNumber: aws.Int32(2), Body: bytes.NewReader([]byte("x"))})
	wantAPIError(t, "a part for another key", err, "AccessDenied", "another bucket or key")
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(testAlias), Key: aws.String("a.bin"), UploadId: aws.String(id)}); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	if ts.used(t, tok) != 0 {
		t.Fatalf("used_hits after Abort: got %d, want 0", ts.used(t, tok))
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(testAlias), Key: aws.String("a.bin"), UploadId: aws.String(id),
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("x"))})
	wantAPIError(t, "a part after Abort", err, "NoSuchUpload", "does not exist")
}

// TestMultipartSizeCap: parts count toward the token's size; a part sent again replaces the
// one before it.
func TestMultipartSizeCap(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	limit := int64(objstore.MinPartSize + 100)
	_, c := ts.mint(t, token.Record{Key: "capped", Method: token.MethodPut, Size: limit})
	id, parts, _ := multipartUpload(t, c, "capped", objstore.MinPartSize, 60)
	send := func(n int32, size int) error {
		_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(testAlias), Key: aws.String("capped"), UploadId: aws.String(id),
			PartNumber: aws.Int32(n), Body: bytes.NewReader(make([]byte, size))})
		return err
	}
	wantAPIError(t, "a part past the cap", send(3, 50), "EntityTooLarge", "size limit")
	if err := send(2, 90); err != nil { // replaces part 2: 5 MiB + 90 fits
		t.Fatalf("a part sent again within the cap: %v", err)
	}
	if err := send(2, 60); err != nil {
		t.Fatal(err)
	}
	lp, _ := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(testAlias), Key: aws.String("capped"), UploadId: aws.String(id)})
	parts[1].ETag = lp.Parts[1].ETag
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(testAlias), Key: aws.String("capped"),
		UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("Complete within the cap: %v", err)
	}
}

// TestJanitorEndsAbandonedUploads: an upload whose token expired is aborted by the janitor
// through Owner, and its hit goes back to the token.
func TestJanitorEndsAbandonedUploads(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	tok, c := ts.mint(t, token.Record{Key: "left.bin", Method: token.MethodPut, MaxHits: 1, ExpireAt: time.Now().Add(2 * time.Second).Unix()})
	id, _, _ := multipartUpload(t, c, "left.bin", 100)
	u, _, err := ts.store.Upload(ctx, token.ID(tok), id)
	if err != nil {
		t.Fatal(err)
	}
	j := upload.NewJanitor(upload.JanitorOptions{Store: ts.store, Owners: map[string]upload.Owner{Kind: Owner{Buckets: map[string]objstore.Backend{testAlias: ts.bucket}}},
		Interval: time.Hour, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	n, err := j.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Sweep: ended %d, %v; want 1", n, err)
	}
	if _, err := ts.bucket.ListParts(ctx, "left.bin", u.StoreID); err == nil {
		t.Fatal("the store's upload is still open")
	}
	if ts.used(t, tok) != 0 {
		t.Fatalf("used_hits after the janitor: got %d, want 0", ts.used(t, tok))
	}
}
