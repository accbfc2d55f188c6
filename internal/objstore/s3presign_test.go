package objstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	mimemultipart "mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// What a browser does with DirectUploader's presigned requests, against the real servers: PUT
// parts to presigned URLs, and POST an HTML form under a policy that the store enforces.

// presignClient sends what a browser would, trusting the backend's certificate authorities.
func presignClient(b *S3) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: b.tr.http}
}

func TestS3PresignUploadPart(t *testing.T) {
	for _, srv := range s3Servers {
		t.Run(srv.name, func(t *testing.T) {
			b := newTestS3(t, srv.server(t, srv.tls), nil)
			var d DirectUploader = b
			ctx := context.Background()
			const key = "direct/parts.bin"
			id, err := d.CreateMultipart(ctx, key, MultipartOptions{ContentType: "video/mp4"})
			if err != nil {
				t.Fatal(err)
			}
			first, last := bytes.Repeat([]byte("a"), MinPartSize), []byte("the last part")
			var parts []Part
			for i, data := range [][]byte{first, last} {
				u, err := d.PresignUploadPart(ctx, key, id, int32(i+1), time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(data))
				resp, err := presignClient(b).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
					t.Fatalf("PUT part %d to its presigned URL: %d %s, ETag %q", i+1, resp.StatusCode, body, resp.Header.Get("ETag"))
				}
				parts = append(parts, Part{Number: int32(i + 1), ETag: unquoteETag(resp.Header.Get("ETag"))})
			}
			listed, err := d.ListParts(ctx, key, id)
			if err != nil || len(listed) != 2 || listed[0].Size != MinPartSize || listed[1].Size != int64(len(last)) ||
				listed[0].ETag != parts[0].ETag || listed[1].ETag != parts[1].ETag {
				t.Fatalf("ListParts = %+v, %v; want the two parts sent", listed, err)
			}
			if _, err := d.CompleteMultipart(ctx, key, id, parts, CompleteOptions{}); err != nil {
				t.Fatal(err)
			}
			info, err := b.Head(ctx, key, Conditions{})
			if err != nil || info.Size != int64(len(first)+len(last)) || info.ContentType != "video/mp4" {
				t.Fatalf("Head = %+v, %v", info, err)
			}
			if _, err := d.PresignUploadPart(ctx, key, id, MaxParts+1, time.Minute); err == nil {
				t.Error("presigned a part number past MaxParts")
			}
		})
	}
}

// postForm sends an S3 POST-policy upload as a browser's form would: the fields, then the file.
func postForm(t *testing.T, hc *http.Client, url string, fields map[string]string, file []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	w := mimemultipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", "upload.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	w.Close()
	resp, err := hc.Post(url, w.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestS3PresignPost: the policy's rules are the store's: a body over MaxSize, another
// Content-Type or other metadata, another key — each refused, nothing stored (MinIO and
// versitygw alike).
func TestS3PresignPost(t *testing.T) {
	for _, srv := range s3Servers {
		t.Run(srv.name, func(t *testing.T) {
			b := newTestS3(t, srv.server(t, srv.tls), nil)
			ctx := context.Background()
			hc := presignClient(b)
			policy := PostPolicy{MaxSize: 1000, ContentType: "image/png", Metadata: map[string]string{"owner": "u-1"}}
			const key = "direct/form.png"
			u, fields, err := b.PresignPost(ctx, key, time.Minute, policy)
			if err != nil {
				t.Fatal(err)
			}
			if fields["key"] != key || fields["Content-Type"] != "image/png" || fields["x-amz-meta-owner"] != "u-1" || fields["policy"] == "" {
				t.Fatalf("fields %v", fields)
			}
			edited := func(k, v string) map[string]string {
				f := map[string]string{}
				for name, val := range fields {
					f[name] = val
				}
				f[k] = v
				return f
			}
			for _, c := range []struct {
				name   string
				fields map[string]string
				file   []byte
			}{
				{"over the size", fields, make([]byte, 1001)},
				{"another type", edited("Content-Type", "text/html"), []byte("<p>")},
				{"other metadata", edited("x-amz-meta-owner", "u-2"), []byte("x")},
				{"another key", edited("key", "direct/elsewhere.png"), []byte("x")},
			} {
				status, body := postForm(t, hc, u, c.fields, c.file)
				if status < 400 || status >= 500 {
					t.Errorf("%s: got %d %s, want a refusal", c.name, status, body)
				}
			}
			for _, k := range []string{key, "direct/elsewhere.png"} {
				if _, err := b.Head(ctx, k, Conditions{}); !errors.Is(err, ErrObjectNotFound) {
					t.Errorf("after the refusals, Head %s: %v; want nothing stored", k, err)
				}
			}
			data := bytes.Repeat([]byte{0x89}, 1000)
			if status, body := postForm(t, hc, u, fields, data); status/100 != 2 {
				t.Fatalf("the policy's own upload: %d %s", status, body)
			}
			info, err := b.Head(ctx, key, Conditions{})
			if err != nil || info.Size != 1000 || info.ContentType != "image/png" {
				t.Fatalf("Head = %+v, %v", info, err)
			}
			if _, _, err := b.PresignPost(ctx, key, time.Minute, PostPolicy{MaxSize: maxSinglePutSize + 1}); err == nil {
				t.Error("presigned a POST larger than one PutObject")
			}
		})
	}
}

func TestAsDirectUploaderUnwraps(t *testing.T) {
	o := testS3Options(&testenv.S3{Region: "us-east-1", Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b"})
	o.Bucket = "b"
	s, err := NewS3(context.Background(), o) // no I/O
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if d, ok := AsDirectUploader(wrapping{wrapping{s}}); !ok || d != DirectUploader(s) {
		t.Fatalf("AsDirectUploader through two wrappers = %v, %v; want the S3", d, ok)
	}
	if _, ok := AsDirectUploader(newTestFile(t)); ok {
		t.Fatal("a directory bucket is a DirectUploader")
	}
}
