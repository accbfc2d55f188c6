package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/client"
)

// TestOptionalFields: every optional field of CreateRequest reaches the gateway, and the
// record shows it back the way the gateway keeps it.
func TestOptionalFields(t *testing.T) {
	_, c := startGateway(t)
	ctx := context.Background()
	sum := sha256.Sum256([]byte("x"))
	put, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "f/a.png", Method: client.MethodPut,
		Delivery: client.DeliveryStream, ContentTypes: []string{"image/png", "image/*"}, SHA256: strings.ToUpper(hex.EncodeToString(sum[:])),
		Metadata: map[string]string{"owner": "user-42"}, IfNoneMatch: true, IP: []string{"127.0.0.1", "10.1.2.3/8", "::1"},
		Disposition: client.DispositionInline, CacheControl: "private, max-age=60"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := c.GetToken(ctx, put.Token)
	if err != nil {
		t.Fatal(err)
	}
	want := client.Token{Token: put.Token, Bucket: "local", Key: "f/a.png", Method: "PUT", ExpireAt: put.ExpireAt, MaxHits: 1,
		Size: client.Unlimited, URL: put.URL, Delivery: "stream", ContentTypes: []string{"image/png", "image/*"},
		SHA256: hex.EncodeToString(sum[:]), Metadata: map[string]string{"owner": "user-42"}, IfNoneMatch: true,
		IP: []string{"127.0.0.1/32", "10.0.0.0/8", "::1/128"}, Disposition: "inline", CacheControl: "private, max-age=60",
		Uploads: client.Uploads{TusURL: put.TusURL}}
	if !reflect.DeepEqual(*rec, want) || put.TusURL == "" {
		t.Fatalf("record:\n got %+v\nwant %+v", *rec, want)
	}
	if _, err := c.Upload(ctx, put.URL, strings.NewReader("x"), 1, "image/png"); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx, put.Token); err != nil || !st.Uploaded || st.Metadata["owner"] != "user-42" {
		t.Fatalf("status: %+v, %v", st, err)
	}

	// Absent fields stay absent (their defaults apply), also in the record.
	get, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "f/a.png", Method: client.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := c.GetToken(ctx, get.Token); err != nil || rec.Delivery != "" || rec.IP != nil || rec.Disposition != "" {
		t.Fatalf("plain record: %+v, %v", rec, err)
	}
	// A field that does not fit the token is named in ErrBadRequest.
	_, err = c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "k", Method: client.MethodGet, SHA256: hex.EncodeToString(sum[:])})
	if !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "sha256: only for PUT") {
		t.Fatalf("sha256 on a GET token: %v", err)
	}
}

// TestConstraintErrors: the codes of upload constraints and client binding, as sentinels.
func TestConstraintErrors(t *testing.T) {
	_, c := startGateway(t)
	ctx := context.Background()
	mint := func(req client.CreateRequest) string {
		t.Helper()
		req.Bucket = "local"
		created, err := c.CreateToken(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return created.URL
	}
	sum := sha256.Sum256([]byte("expected"))
	cases := []struct {
		name string
		call func() error
		want *client.Error
	}{
		{"unsupported_media_type", func() error {
			_, err := c.Upload(ctx, mint(client.CreateRequest{Key: "c/a", Method: client.MethodPut, ContentTypes: []string{"image/*"}}),
				strings.NewReader("x"), 1, "text/plain")
			return err
		}, client.ErrUnsupportedMediaType},
		{"checksum_mismatch", func() error {
			_, err := c.Upload(ctx, mint(client.CreateRequest{Key: "c/b", Method: client.MethodPut, SHA256: hex.EncodeToString(sum[:])}),
				strings.NewReader("tampered"), 8, "")
			return err
		}, client.ErrChecksumMismatch},
		{"precondition_failed", func() error {
			first := mint(client.CreateRequest{Key: "c/c", Method: client.MethodPut, IfNoneMatch: true})
			if _, err := c.Upload(ctx, first, strings.NewReader("first"), 5, ""); err != nil {
				return err
			}
			_, err := c.Upload(ctx, mint(client.CreateRequest{Key: "c/c", Method: client.MethodPut, IfNoneMatch: true}),
				strings.NewReader("second"), 6, "")
			return err
		}, client.ErrPreconditionFailed},
		{"forbidden/GET", func() error {
			_, err := c.Download(ctx, mint(client.CreateRequest{Key: "c/c", Method: client.MethodGet, IP: []string{"10.0.0.0/8"}}), io.Discard, "")
			return err
		}, client.ErrForbidden},
		{"forbidden/HEAD", func() error {
			_, err := c.Head(ctx, mint(client.CreateRequest{Key: "c/c", Method: client.MethodGet, IP: []string{"10.0.0.0/8"}}))
			return err
		}, client.ErrForbidden},
		{"forbidden/DELETE", func() error {
			return c.Delete(ctx, mint(client.CreateRequest{Key: "c/c", Method: client.MethodDelete, IP: []string{"192.0.2.1"}}))
		}, client.ErrForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *client.Error
			if !errors.As(err, &e) || !errors.Is(err, tc.want) || e.Status != tc.want.Status || e.RequestID == "" {
				t.Fatalf("got %v, want %s (HTTP %d)", err, tc.want.Code, tc.want.Status)
			}
		})
	}
}

func TestCreateTokens(t *testing.T) {
	_, c := startGateway(t)
	ctx := context.Background()
	if _, err := c.CreateToken(ctx, client.CreateRequest{Token: "taken-custom-token-01", Bucket: "local", Key: "k", Method: client.MethodGet}); err != nil {
		t.Fatal(err)
	}
	reqs := []client.CreateRequest{
		{Bucket: "local", Key: "b/1", Method: client.MethodGet, Filename: "one.txt"},
		{Token: "taken-custom-token-01", Bucket: "local", Key: "b/2", Method: client.MethodGet},
		{Bucket: "local", Prefix: "b/", Method: client.MethodList, MaxHits: new(int64(2))},
	}
	results, err := c.CreateTokens(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("got %d results", len(results))
	}
	if r := results[0]; r.Err() != nil || r.Created().Filename != "one.txt" || r.Created().URL == "" || r.Status != 201 {
		t.Fatalf("item 0: %+v", r)
	}
	if r := results[1]; !errors.Is(r.Err(), client.ErrTokenExists) || r.Created() != nil || r.Status != 409 {
		t.Fatalf("item 1: %+v", r)
	}
	rec, err := c.GetToken(ctx, results[2].Token)
	if err != nil || rec.Method != client.MethodList || rec.Prefix != "b/" || rec.Key != "" || rec.MaxHits != 2 {
		t.Fatalf("item 2's record: %+v, %v", rec, err)
	}

	// All or nothing: one bad item refuses the batch, named by its index.
	_, err = c.CreateTokens(ctx, []client.CreateRequest{{Bucket: "local", Key: "ok", Method: client.MethodGet}, {Bucket: "nope", Key: "k", Method: client.MethodGet}})
	if !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "tokens[1].bucket") {
		t.Fatalf("bad batch: %v", err)
	}
	if _, err := c.CreateTokens(ctx, nil); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("empty batch: %v", err)
	}
	many := make([]client.CreateRequest, 100)
	for i := range many {
		many[i] = client.CreateRequest{Bucket: "local", Key: "b/many", Method: client.MethodGet}
	}
	if _, err := c.CreateTokens(ctx, many); !errors.Is(err, client.ErrRequestTooLarge) { // the test gateway's max_control_body is 4 KiB
		t.Fatalf("large batch: %v", err)
	}
}

func TestPrefixAndList(t *testing.T) {
	_, c := startGateway(t)
	ctx := context.Background()
	keys := []string{"show/index.m3u8", "show/seg 1.ts", "show/sub/seg-2.ts", "other/x"}
	for _, k := range keys {
		put, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: k, Method: client.MethodPut})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Upload(ctx, put.URL, strings.NewReader("data of "+k), int64(len("data of "+k)), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Prefix: "show/", Method: client.MethodList})
	if err != nil {
		t.Fatal(err)
	}
	var got []client.ListEntry
	after := ""
	for pages := 0; ; pages++ {
		page, err := c.List(ctx, list.URL, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Objects...)
		if !page.Truncated {
			if pages != 1 || page.NextAfter != "" {
				t.Fatalf("last page %d: %+v", pages, page)
			}
			break
		}
		after = page.NextAfter
	}
	if len(got) != 3 || got[0].Key != "index.m3u8" || got[1].Key != "seg 1.ts" || got[2].Key != "sub/seg-2.ts" ||
		got[2].Size != int64(len("data of show/sub/seg-2.ts")) || got[0].ETag == "" || time.Since(got[0].LastModified) > time.Hour {
		t.Fatalf("listing: %+v", got)
	}
	if page, err := c.List(ctx, list.URL, "zzz", 0); err != nil || page.Objects == nil || len(page.Objects) != 0 || page.Truncated {
		t.Fatalf("past the end: %+v, %v", page, err)
	}
	if _, err := c.List(ctx, list.URL, "", 5000); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("limit 5000: %v", err)
	}

	// A GET prefix token serves each listed key at PrefixURL.
	get, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Prefix: "show/", Method: client.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		var buf bytes.Buffer
		if _, err := c.Download(ctx, client.PrefixURL(get.URL, e.Key), &buf, ""); err != nil || buf.String() != "data of show/"+e.Key {
			t.Fatalf("%s: %q, %v", e.Key, buf.String(), err)
		}
	}
	if got := client.PrefixURL("https://gw/object/tok/", "a b/c%d.ts"); got != "https://gw/object/tok/a%20b/c%25d.ts" {
		t.Fatalf("PrefixURL: %q", got)
	}
	if _, err := c.Head(ctx, client.PrefixURL(get.URL, "../other/x")); err == nil {
		t.Fatal("a key outside the prefix was served")
	}
	// List through a GET token's URL: the gateway sends an object, which List refuses.
	one, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "other/x", Method: client.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, one.URL, "", 0); err == nil || !strings.Contains(err.Error(), "not a listing") {
		t.Fatalf("List of a GET token: %v", err)
	}
}

// TestRedirectDelivery: through a redirect token the client follows the gateway's 307 once,
// to the presigned URL of the (fake) S3 store, and never carries a credential there.
func TestRedirectDelivery(t *testing.T) {
	gw, c := startGateway(t)
	ctx := context.Background()
	content := bytes.Repeat([]byte("0123456789"), 1000)
	gw.s3.put("media/clip.bin", "video/mp2t", content)
	mint := func(req client.CreateRequest) *client.Created {
		t.Helper()
		req.Bucket, req.Delivery = "s3", client.DeliveryRedirect
		created, err := c.CreateToken(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return created
	}

	t.Run("download", func(t *testing.T) {
		get := mint(client.CreateRequest{Key: "media/clip.bin", Method: client.MethodGet, Filename: "片段.bin", MaxHits: new(int64(3))})
		var buf bytes.Buffer
		d, err := c.Download(ctx, get.URL, &buf, "")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), content) || !d.Redirected || d.Filename != "片段.bin" || d.ContentType != "video/mp2t" ||
			d.RequestID == "" || d.Status != 200 || d.Size != int64(len(content)) {
			t.Fatalf("download: %d bytes, %+v", buf.Len(), d.ObjectInfo)
		}
		// The range travels with the redirect.
		obj, err := c.Open(ctx, get.URL, "10-19")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(b) != "0123456789" || obj.Status != 206 || obj.Start != 10 || obj.Size != int64(len(content)) {
			t.Fatalf("range: %q %+v", b, obj.DownloadInfo)
		}
		// Each redirect is a hit; HEAD is answered by the gateway itself and costs none.
		if info, err := c.Head(ctx, get.URL); err != nil || info.Redirected || info.Size != int64(len(content)) {
			t.Fatalf("HEAD: %+v, %v", info, err)
		}
		if _, err := c.Download(ctx, get.URL, io.Discard, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Download(ctx, get.URL, io.Discard, ""); !errors.Is(err, client.ErrHitsExceeded) {
			t.Fatalf("fourth download of 3: %v", err)
		}
		// What the store saw: presigned requests only, no Authorization, nothing of the control token.
		reqs := gw.s3.presigned()
		if len(reqs) != 3 {
			t.Fatalf("presigned requests: got %d, want 3", len(reqs))
		}
		for _, r := range reqs {
			if r.Header.Get("Authorization") != "" || strings.Contains(r.URL.String()+headerText(r.Header), controlToken) {
				t.Fatalf("a credential reached the store: %v %v", r.URL, r.Header)
			}
		}
		if reqs[1].Header.Get("Range") != "bytes=10-19" {
			t.Fatalf("Range at the store: %q", reqs[1].Header.Get("Range"))
		}
	})

	t.Run("store errors", func(t *testing.T) {
		missing := mint(client.CreateRequest{Key: "media/missing.bin", Method: client.MethodGet})
		_, err := c.Download(ctx, missing.URL, io.Discard, "")
		var e *client.Error
		if !errors.Is(err, client.ErrObjectNotFound) || !errors.As(err, &e) || e.RequestID == "" || !strings.Contains(e.Message, "NoSuchKey") {
			t.Fatalf("missing object at the store: %v", err)
		}
		if strings.Contains(err.Error(), "X-Amz-") {
			t.Fatalf("the error shows the presigned URL: %v", err)
		}
		if _, err := c.Download(ctx, mint(client.CreateRequest{Key: "media/clip.bin", Method: client.MethodGet}).URL, io.Discard, "bytes=99999999-"); !errors.Is(err, client.ErrRangeNotSatisfiable) {
			t.Fatalf("range past the end at the store: %v", err)
		}
		// A redirect from the store is not followed: one hop only.
		elsewhere := newFakeS3()
		defer elsewhere.srv.Close()
		gw.s3.mu.Lock()
		gw.s3.redirectKeys["/b/media/moved.bin"] = elsewhere.srv.URL + "/b/media/moved.bin"
		gw.s3.mu.Unlock()
		_, err = c.Download(ctx, mint(client.CreateRequest{Key: "media/moved.bin", Method: client.MethodGet}).URL, io.Discard, "")
		if !errors.As(err, &e) || e.Status != http.StatusTemporaryRedirect || len(elsewhere.requests) != 0 {
			t.Fatalf("second redirect: %v (%d requests elsewhere)", err, len(elsewhere.requests))
		}
	})

	t.Run("upload", func(t *testing.T) {
		payload := bytes.Repeat([]byte("upload "), 3000)
		put := mint(client.CreateRequest{Key: "up/a.bin", Method: client.MethodPut, ContentTypes: []string{"application/*"}})
		// A body that cannot be rewound: Expect: 100-continue keeps it unread until the 307.
		up, err := c.Upload(ctx, put.URL, io.MultiReader(bytes.NewReader(payload)), int64(len(payload)), "application/x-test")
		if err != nil {
			t.Fatal(err)
		}
		stored, ok := gw.s3.object("up/a.bin")
		if !ok || !bytes.Equal(stored.data, payload) || stored.contentType != "application/x-test" || up.ETag != md5hex(payload) || up.Size != int64(len(payload)) {
			t.Fatalf("stored %d bytes (%q), answer %+v", len(stored.data), stored.contentType, up)
		}
		last := gw.s3.presigned()
		if r := last[len(last)-1]; r.Method != http.MethodPut || r.Header.Get("Authorization") != "" || r.ContentLength != int64(len(payload)) {
			t.Fatalf("presigned PUT: %s %v", r.Method, r.Header)
		}
		// The gateway's checks still apply before the redirect.
		wrongType := mint(client.CreateRequest{Key: "up/b.bin", Method: client.MethodPut, ContentTypes: []string{"image/*"}})
		if _, err := c.Upload(ctx, wrongType.URL, bytes.NewReader(payload), int64(len(payload)), "text/plain"); !errors.Is(err, client.ErrUnsupportedMediaType) {
			t.Fatalf("type refused before the redirect: %v", err)
		}

		// A transport that sends the body at once (no wait for 100 Continue): the body is read
		// before the 307 arrives. A seekable body is rewound; another one cannot be.
		eager := client.New(gw.URL, controlToken, client.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
		seekable := mint(client.CreateRequest{Key: "up/c.bin", Method: client.MethodPut})
		rd := bytes.NewReader(append([]byte("skipped:"), payload...))
		if _, err := rd.Seek(8, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := eager.Upload(ctx, seekable.URL, rd, int64(len(payload)), ""); err != nil {
			t.Fatal(err)
		}
		if stored, _ := gw.s3.object("up/c.bin"); !bytes.Equal(stored.data, payload) {
			t.Fatalf("after a rewind the store got %d bytes, want %d from where the body started", len(stored.data), len(payload))
		}
		// Whether the transport read the body before the 307 came back is a race; a gate makes
		// it certain: the answer is not read until the body has been.
		oneWay := mint(client.CreateRequest{Key: "up/d.bin", Method: client.MethodPut})
		read := make(chan struct{})
		gated := client.New(gw.URL, controlToken, client.WithHTTPClient(&http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				return &answerAfter{Conn: conn, gate: read}, err
			}}}))
		body := &firstRead{r: bytes.NewReader(payload), done: read}
		if _, err := gated.Upload(ctx, oneWay.URL, body, int64(len(payload)), ""); !errors.Is(err, client.ErrBodyNotRewindable) {
			t.Fatalf("a consumed body that cannot be rewound: %v", err)
		}
		if _, ok := gw.s3.object("up/d.bin"); ok {
			t.Fatal("something was stored from a body that could not be rewound")
		}

		// Unknown size: the upload streams through the gateway, never redirected.
		chunked := mint(client.CreateRequest{Key: "up/e.bin", Method: client.MethodPut})
		before := len(gw.s3.presigned())
		if _, err := c.Upload(ctx, chunked.URL, io.MultiReader(bytes.NewReader(payload)), -1, ""); err != nil {
			t.Fatal(err)
		}
		if len(gw.s3.presigned()) != before {
			t.Fatal("a chunked upload was redirected")
		}
		if stored, _ := gw.s3.object("up/e.bin"); !bytes.Equal(stored.data, payload) {
			t.Fatalf("streamed through the gateway: the store got %d bytes, want %d", len(stored.data), len(payload))
		}
	})
}

// headerText flattens a header for searching.
func headerText(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		b.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	return b.String()
}

// firstRead is a body that closes done when it is first read.
type firstRead struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(func() { close(f.done) })
	return f.r.Read(p)
}

// answerAfter is a connection whose answers are not read before gate is closed (at most 5 s).
type answerAfter struct {
	net.Conn
	gate chan struct{}
}

func (a *answerAfter) Read(p []byte) (int, error) {
	select {
	case <-a.gate:
	case <-time.After(5 * time.Second):
	}
	return a.Conn.Read(p)
}
