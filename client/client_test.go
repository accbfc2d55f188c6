package client_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/client"
	"github.com/assetgateway/assetgateway/internal/callback"
)

func startGateway(t *testing.T) (*gateway, *client.Client) {
	t.Helper()
	gw, err := newGateway()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.close)
	return gw, client.New(gw.URL+"/", controlToken)
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func TestTokenLifecycle(t *testing.T) {
	gw, c := startGateway(t)
	ctx := context.Background()

	created, err := c.CreateToken(ctx, client.CreateRequest{
		Token: "lifecycle-token-0001", Bucket: "local", Key: "docs/a.txt", Method: client.MethodGet,
		Filename: "a.txt", ExpiresIn: new(int64(600)), MaxHits: new(int64(3)), Callback: "https://hooks.example.com/x",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := client.Created{Token: "lifecycle-token-0001", Method: "GET", Filename: "a.txt",
		ExpireAt: gw.clock.Now().Unix() + 600, URL: gw.URL + "/object/lifecycle-token-0001"}
	if *created != want {
		t.Fatalf("created: got %+v, want %+v", *created, want)
	}

	rec, err := c.GetToken(ctx, created.Token)
	if err != nil {
		t.Fatal(err)
	}
	wantRec := client.Token{Token: created.Token, Bucket: "local", Key: "docs/a.txt", Filename: "a.txt", Method: "GET",
		ExpireAt: want.ExpireAt, MaxHits: 3, UsedHits: 0, Size: client.Unlimited, Callback: "https://hooks.example.com/x", URL: want.URL}
	if !reflect.DeepEqual(*rec, wantRec) {
		t.Fatalf("record: got %+v, want %+v", *rec, wantRec)
	}

	st, err := c.Status(ctx, created.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Token, wantRec) || st.StatusURL != gw.URL+"/token/lifecycle-token-0001/status" || st.Uploaded || st.ObjectExists || st.ObjectSize != 0 || st.ETag != "" {
		t.Fatalf("status: got %+v", *st)
	}

	if err := c.DeleteToken(ctx, created.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetToken(ctx, created.Token); !errors.Is(err, client.ErrTokenNotFound) {
		t.Fatalf("after delete: got %v, want ErrTokenNotFound", err)
	}
	if err := c.DeleteToken(ctx, created.Token); !errors.Is(err, client.ErrTokenNotFound) {
		t.Fatalf("second delete: got %v, want ErrTokenNotFound", err)
	}
}

func TestCreateDefaults(t *testing.T) {
	gw, c := startGateway(t)
	ctx := context.Background()
	now := gw.clock.Now().Unix()
	cases := []struct {
		name                string
		req                 client.CreateRequest
		expireAt, hits, max int64
	}{
		{"GET defaults", client.CreateRequest{Bucket: "local", Key: "k", Method: client.MethodGet}, now + 1800, -1, -1},
		{"PUT defaults", client.CreateRequest{Bucket: "local", Key: "k", Method: client.MethodPut}, now + 1800, 1, -1},
		{"HEAD", client.CreateRequest{Bucket: "local", Key: "k", Method: client.MethodHead}, now + 1800, -1, -1},
		{"expire_at, limits", client.CreateRequest{Bucket: "local", Key: "k", Method: client.MethodPut,
			ExpireAt: new(now + 99), MaxHits: new(int64(client.Unlimited)), Size: new(int64(1024))}, now + 99, -1, 1024},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			created, err := c.CreateToken(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(created.Token) != 28 {
				t.Errorf("generated token: got %d characters, want 28", len(created.Token))
			}
			rec, err := c.GetToken(ctx, created.Token)
			if err != nil {
				t.Fatal(err)
			}
			if rec.ExpireAt != tc.expireAt || rec.MaxHits != tc.hits || rec.Size != tc.max || rec.Filename != "" || rec.Callback != "" {
				t.Fatalf("got expire_at %d max_hits %d size %d, want %d %d %d", rec.ExpireAt, rec.MaxHits, rec.Size, tc.expireAt, tc.hits, tc.max)
			}
		})
	}
}

func TestUploadDownloadHead(t *testing.T) {
	_, c := startGateway(t)
	ctx := context.Background()
	payload := []byte("0123456789abcdefghijklmnopqrstuvwxyz")

	put, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "a/b.txt", Method: client.MethodPut})
	if err != nil {
		t.Fatal(err)
	}
	// A PUT token's HEAD probes whether the upload landed: 404 until it has.
	_, err = c.Head(ctx, put.URL)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 404 || !errors.Is(err, client.ErrObjectNotFound) {
		t.Fatalf("HEAD before upload: got %v, want 404 object_not_found (from X-Error-Code)", err)
	}
	up, err := c.Upload(ctx, put.URL, bytes.NewReader(payload), int64(len(payload)), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if up.Size != int64(len(payload)) || up.ETag != md5hex(payload) {
		t.Fatalf("upload: got %+v", *up)
	}
	st, err := c.Status(ctx, put.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Uploaded || !st.ObjectExists || st.ObjectSize != int64(len(payload)) || st.ETag != up.ETag || st.UsedHits != 1 {
		t.Fatalf("status after upload: got %+v", *st)
	}
	if info, err := c.Head(ctx, put.URL); err != nil || info.Size != int64(len(payload)) {
		t.Fatalf("HEAD after upload: got %+v, %v", info, err)
	}

	const name = "说明 \"README\".txt"
	get, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "a/b.txt", Method: client.MethodGet, Filename: name})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Head(ctx, get.URL)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(payload)) || info.ETag != up.ETag || info.ContentType != "text/plain" ||
		info.Filename != name || info.LastModified.IsZero() || info.RequestID == "" {
		t.Fatalf("HEAD: got %+v", *info)
	}

	cases := []struct {
		rng          string
		status       int
		start, total int64
		want         string
	}{
		{"", 200, 0, 36, string(payload)},
		{"bytes=0-3", 206, 0, 36, "0123"},
		{"10-12", 206, 10, 36, "abc"},
		{"bytes=-3", 206, 33, 36, "xyz"},
		{"bytes=30-", 206, 30, 36, "uvwxyz"},
		{"bytes=0-1,4-5", 200, 0, 36, string(payload)}, // several ranges: the whole object
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		d, err := c.Download(ctx, get.URL, &buf, tc.rng)
		if err != nil {
			t.Fatalf("range %q: %v", tc.rng, err)
		}
		if buf.String() != tc.want || d.Status != tc.status || d.Start != tc.start || d.Size != tc.total ||
			d.Length != int64(len(tc.want)) || d.Filename != name || d.ETag != up.ETag {
			t.Fatalf("range %q: got %q %+v, want %q status %d start %d size %d", tc.rng, buf.String(), *d, tc.want, tc.status, tc.start, tc.total)
		}
	}
	rec, err := c.GetToken(ctx, get.Token)
	if err != nil {
		t.Fatal(err)
	}
	if rec.UsedHits != int64(len(cases)) {
		t.Fatalf("used_hits: got %d, want %d (HEAD costs nothing)", rec.UsedHits, len(cases))
	}

	// Open hands the body over unread.
	obj, err := c.Open(ctx, "/object/"+get.Token, "bytes=1-2") // a path resolves against the gateway
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil || string(b) != "12" || obj.Length != 2 || obj.Start != 1 || obj.Status != 206 {
		t.Fatalf("Open: got %q %v %+v", b, err, obj.DownloadInfo)
	}
}

func TestChunkedUpload(t *testing.T) {
	_, c := startGateway(t)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("chunk "), 50000)
	put, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "big.bin", Method: client.MethodPut})
	if err != nil {
		t.Fatal(err)
	}
	// io.MultiReader hides the length: the body goes chunked.
	up, err := c.Upload(ctx, put.URL, io.MultiReader(bytes.NewReader(payload)), -1, "")
	if err != nil {
		t.Fatal(err)
	}
	if up.Size != int64(len(payload)) || up.ETag != md5hex(payload) {
		t.Fatalf("got %+v", *up)
	}
	get, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "big.bin", Method: client.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	d, err := c.Download(ctx, get.URL, &buf, "")
	if err != nil || !bytes.Equal(buf.Bytes(), payload) || d.ContentType != "application/octet-stream" {
		t.Fatalf("download: %v, %d bytes, %q", err, buf.Len(), d.ContentType)
	}

	empty, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "empty", Method: client.MethodPut})
	if err != nil {
		t.Fatal(err)
	}
	if up, err := c.Upload(ctx, empty.URL, nil, 0, ""); err != nil || up.Size != 0 {
		t.Fatalf("empty upload: %+v, %v", up, err)
	}
}

// neverRead fails the test when an upload body is read.
type neverRead struct{ read atomic.Bool }

func (n *neverRead) Read(p []byte) (int, error) {
	n.read.Store(true)
	return 0, io.EOF
}

func TestRefusedUploadSendsNoBody(t *testing.T) {
	_, c := startGateway(t)
	ctx := context.Background()
	get, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "k", Method: client.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	body := &neverRead{}
	if _, err := c.Upload(ctx, get.URL, body, 1<<30, ""); !errors.Is(err, client.ErrMethodNotAllowed) {
		t.Fatalf("got %v, want ErrMethodNotAllowed", err)
	}
	if body.read.Load() {
		t.Fatal("the body was read although the gateway refused the upload (Expect: 100-continue)")
	}
}

// TestErrorCodes provokes every contract error code through the client and checks the
// mapping: errors.Is against the sentinel, status, request id.
func TestErrorCodes(t *testing.T) {
	gw, c := startGateway(t)
	ctx := context.Background()
	mint := func(req client.CreateRequest) *client.Created {
		t.Helper()
		if req.Bucket == "" {
			req.Bucket = "local"
		}
		if req.Key == "" {
			req.Key = "obj.bin"
		}
		created, err := c.CreateToken(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	put := mint(client.CreateRequest{Method: client.MethodPut, MaxHits: new(int64(5))})
	if _, err := c.Upload(ctx, put.URL, strings.NewReader("hello"), 5, ""); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		call   func() error
		want   *client.Error
		status int
	}{
		{"bad_request", func() error {
			_, err := c.CreateToken(ctx, client.CreateRequest{Key: "k", Method: "GET"})
			return err
		}, client.ErrBadRequest, 400},
		{"bad_request/limit", func() error { _, err := c.FailedCallbacks(ctx, 5000); return err }, client.ErrBadRequest, 400},
		{"unauthorized", func() error {
			_, err := client.New(gw.URL, "").GetToken(ctx, put.Token)
			return err
		}, client.ErrUnauthorized, 401},
		{"forbidden", func() error {
			_, err := client.New(gw.URL, "wrong-control-token").GetToken(ctx, put.Token)
			return err
		}, client.ErrForbidden, 403},
		{"token_not_found", func() error { _, err := c.GetToken(ctx, "no-such-token-000000"); return err }, client.ErrTokenNotFound, 404},
		{"token_not_found/object", func() error {
			_, err := c.Download(ctx, gw.URL+"/object/no-such-token-000000", io.Discard, "")
			return err
		}, client.ErrTokenNotFound, 404},
		{"object_not_found", func() error {
			_, err := c.Download(ctx, mint(client.CreateRequest{Key: "missing", Method: client.MethodGet}).URL, io.Discard, "")
			return err
		}, client.ErrObjectNotFound, 404},
		{"not_found", func() error { return c.RetryCallback(ctx, "no-such-id") }, client.ErrNotFound, 404},
		{"method_not_allowed", func() error {
			_, err := c.Upload(ctx, mint(client.CreateRequest{Method: client.MethodGet}).URL, strings.NewReader("x"), 1, "")
			return err
		}, client.ErrMethodNotAllowed, 405},
		{"method_not_allowed/HEAD", func() error {
			_, err := c.Download(ctx, mint(client.CreateRequest{Method: client.MethodHead}).URL, io.Discard, "")
			return err
		}, client.ErrMethodNotAllowed, 405},
		{"token_exists", func() error {
			_, err := c.CreateToken(ctx, client.CreateRequest{Token: put.Token, Bucket: "local", Key: "k", Method: "GET"})
			return err
		}, client.ErrTokenExists, 409},
		{"hits_exceeded", func() error {
			once := mint(client.CreateRequest{Method: client.MethodGet, MaxHits: new(int64(1))})
			if _, err := c.Download(ctx, once.URL, io.Discard, ""); err != nil {
				return err
			}
			_, err := c.Download(ctx, once.URL, io.Discard, "")
			return err
		}, client.ErrHitsExceeded, 409},
		{"size_exceeded", func() error {
			small := mint(client.CreateRequest{Key: "small", Method: client.MethodPut, Size: new(int64(4))})
			_, err := c.Upload(ctx, small.URL, strings.NewReader("hello"), 5, "")
			return err
		}, client.ErrSizeExceeded, 413},
		{"size_exceeded/chunked", func() error {
			small := mint(client.CreateRequest{Key: "small", Method: client.MethodPut, Size: new(int64(4))})
			_, err := c.Upload(ctx, small.URL, io.MultiReader(strings.NewReader("hello")), -1, "")
			return err
		}, client.ErrSizeExceeded, 413},
		{"request_too_large", func() error {
			_, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: strings.Repeat("k", 5000), Method: "GET"})
			return err
		}, client.ErrRequestTooLarge, 413},
		{"range_not_satisfiable", func() error {
			_, err := c.Download(ctx, mint(client.CreateRequest{Method: client.MethodGet}).URL, io.Discard, "bytes=100-")
			return err
		}, client.ErrRangeNotSatisfiable, 416},
		{"upstream_error", func() error {
			_, err := c.Download(ctx, mint(client.CreateRequest{Bucket: "broken", Method: client.MethodGet}).URL, io.Discard, "")
			return err
		}, client.ErrUpstream, 502},
		{"upstream_error/status", func() error {
			_, err := c.Status(ctx, mint(client.CreateRequest{Bucket: "broken", Method: client.MethodGet}).Token)
			return err
		}, client.ErrUpstream, 502},
		{"token_expired", func() error {
			soon := mint(client.CreateRequest{Method: client.MethodGet, ExpiresIn: new(int64(1))})
			gw.clock.Advance(2 * time.Second)
			_, err := c.Download(ctx, soon.URL, io.Discard, "")
			return err
		}, client.ErrTokenExpired, 410},
		{"token_expired/HEAD", func() error {
			soon := mint(client.CreateRequest{Method: client.MethodGet, ExpiresIn: new(int64(1))})
			gw.clock.Advance(2 * time.Second)
			_, err := c.Head(ctx, soon.URL)
			return err
		}, client.ErrTokenExpired, 410},
		{"store_unavailable", func() error {
			gw.store.down.Store(true)
			defer gw.store.down.Store(false)
			_, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "k", Method: "GET"})
			return err
		}, client.ErrStoreUnavailable, 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want *client.Error", err)
			}
			if !errors.Is(err, tc.want) || e.Status != tc.status || e.Status != tc.want.Status {
				t.Fatalf("got %v (status %d), want %s (status %d)", err, e.Status, tc.want.Code, tc.status)
			}
			if e.RequestID == "" {
				t.Error("no request id")
			}
			if tc.want != client.ErrTokenNotFound && errors.Is(err, client.ErrTokenNotFound) {
				t.Error("matches a sentinel of another code")
			}
			if strings.Contains(err.Error(), controlToken) {
				t.Fatalf("error reveals the control token: %v", err)
			}
			if tc.status == 503 && e.RetryAfter != time.Second {
				t.Errorf("RetryAfter: got %v, want 1s", e.RetryAfter)
			}
		})
	}
}

// TestErrorsFromOtherAnswers covers codes the in-process gateway cannot be made to send and
// answers that are not the contract's JSON.
func TestErrorsFromOtherAnswers(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		status     int
		body       string
		hdr        []string
		want       *client.Error
		code       string
		retryAfter time.Duration
	}{
		{"too_many_requests", 429, `{"code":"too_many_requests","message":"slow down","request_id":"r1"}`,
			[]string{"Retry-After", "7", "Content-Type", "application/json"}, client.ErrTooManyRequests, "too_many_requests", 7 * time.Second},
		{"precondition_failed", 412, `{"code":"precondition_failed","message":"If-Match","request_id":"r2"}`, nil,
			client.ErrPreconditionFailed, "precondition_failed", 0},
		{"internal_error", 500, `{"code":"internal_error","message":"internal error","request_id":"r3"}`, nil,
			client.ErrInternal, "internal_error", 0},
		{"plain text 431", 431, "431 Request Header Fields Too Large", nil, nil, "", 0},
		{"proxy HTML 502", 502, "<html><body>Bad Gateway</body></html>", nil, nil, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := errorServer(tc.status, tc.body, tc.hdr...)
			defer srv.Close()
			_, err := client.New(srv.URL, controlToken).GetToken(ctx, "some-token-00000000")
			var e *client.Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code || e.RetryAfter != tc.retryAfter {
				t.Fatalf("got %#v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("errors.Is(%v, %v) is false", err, tc.want)
			}
			if tc.code == "" {
				if errors.Is(err, client.ErrUpstream) {
					t.Fatal("an answer without a code matched a sentinel")
				}
				if !strings.Contains(e.Message, strings.TrimPrefix(strings.Fields(tc.body)[0], "<html><body>")) {
					t.Fatalf("message %q does not quote the body", e.Message)
				}
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := client.New("http://"+addr, controlToken)
	_, err = c.GetToken(context.Background(), "a-secret-object-token-123")
	var e *client.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("got %v, want a transport error", err)
	}
	for _, secret := range []string{controlToken, "a-secret-object-token-123"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("%q reveals %q", err, secret)
		}
	}
	if !strings.Contains(err.Error(), "/token/a-se…") {
		t.Fatalf("%q: want the shortened token in the path", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Health(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if err := client.New("ftp://example.com", "").Health(context.Background()); err == nil {
		t.Fatal("ftp:// gateway accepted")
	}
	if _, err := c.GetToken(context.Background(), ""); err == nil {
		t.Fatal("empty token accepted")
	}
}

func TestFailedCallbacks(t *testing.T) {
	gw, c := startGateway(t)
	ctx := context.Background()
	list, err := c.FailedCallbacks(ctx, 0)
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("empty list: got %#v, %v", list, err)
	}
	failedAt := time.Unix(1760000000, 0)
	for i, id := range []string{"msg_1", "msg_2", "msg_3"} {
		gw.dead.add(callback.DeadLetter{ID: id, Target: "https://hooks.example.com/in", Attempts: 8, LastStatus: 500,
			LastError: "HTTP 500", FailedAt: failedAt.Add(time.Duration(i) * time.Second),
			Event: callback.Event{Event: callback.EventAccess, Method: "GET", Status: 200, Bucket: "local", Key: "k",
				Size: 5, ETag: "e", RequestID: "req-" + id, Timestamp: 1760000000}})
	}
	list, err = c.FailedCallbacks(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := client.FailedCallback{ID: "msg_3", Target: "https://hooks.example.com/in", Attempts: 8, LastStatus: 500,
		LastError: "HTTP 500", FailedAt: 1760000002, Event: client.Event{Event: "asset.access", Method: "GET", Status: 200,
			Bucket: "local", Key: "k", Size: 5, ETag: "e", RequestID: "req-msg_3", Timestamp: 1760000000}}
	if len(list) != 2 || list[0] != want || list[1].ID != "msg_2" {
		t.Fatalf("got %+v", list)
	}
	if err := c.RetryCallback(ctx, "msg_2"); err != nil {
		t.Fatal(err)
	}
	if len(gw.dead.replayed) != 1 || gw.dead.replayed[0] != "msg_2" {
		t.Fatalf("replayed: %v", gw.dead.replayed)
	}
	if err := c.RetryCallback(ctx, ""); err == nil {
		t.Fatal("empty id accepted")
	}
}

func TestHealth(t *testing.T) {
	gw, c := startGateway(t)
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Health needs no control token.
	if err := client.New(gw.URL, "").Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := errorServer(503, `{"code":"store_unavailable","message":"down","request_id":"x"}`)
	defer srv.Close()
	if err := client.New(srv.URL, "").Health(context.Background()); !errors.Is(err, client.ErrStoreUnavailable) {
		t.Fatalf("got %v", err)
	}
}

func TestOptions(t *testing.T) {
	var gotUA, gotAuth atomic.Value
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA.Store(r.UserAgent())
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	}))
	defer srv.Close()

	var sent atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := client.New(srv.URL, controlToken, client.WithHTTPClient(hc), client.WithUserAgent("backend/2.0"))
	_, err := c.GetToken(context.Background(), "some-token-00000000")
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusFound {
		t.Fatalf("got %v, want the redirect as an error", err)
	}
	if gotAuth.Load() != nil {
		t.Fatal("the redirect was followed: the control token went to another server")
	}
	if gotUA.Load() != "backend/2.0" || sent.Load() != 1 {
		t.Fatalf("user agent %v, requests through the custom client %d", gotUA.Load(), sent.Load())
	}
	if hc.CheckRedirect != nil {
		t.Fatal("WithHTTPClient modified the caller's client")
	}

	if err := client.New(srv.URL, "").Health(context.Background()); err == nil || gotUA.Load() != client.DefaultUserAgent {
		t.Fatalf("default user agent: got %v", gotUA.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestErrorString(t *testing.T) {
	cases := []struct {
		err  *client.Error
		want string
	}{
		{&client.Error{Status: 409, Code: "hits_exceeded", Message: "this token has no hits left", RequestID: "r-1"},
			"assetgateway: hits_exceeded: this token has no hits left (HTTP 409, request id r-1)"},
		{&client.Error{Status: 431, Message: "Request Header Fields Too Large"}, "assetgateway: HTTP 431: Request Header Fields Too Large"},
		{client.ErrTokenExpired, "assetgateway: token_expired (HTTP 410)"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestDeleteThroughToken(t *testing.T) {
	_, c := startGateway(t)
	ctx := context.Background()
	put, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "gone.txt", Method: client.MethodPut})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, put.URL, strings.NewReader("x"), 1, "text/plain"); err != nil {
		t.Fatal(err)
	}
	del, err := c.CreateToken(ctx, client.CreateRequest{Bucket: "local", Key: "gone.txt", Method: client.MethodDelete})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, del.URL); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Delete(ctx, del.URL); !errors.Is(err, client.ErrHitsExceeded) {
		t.Fatalf("second Delete: got %v, want ErrHitsExceeded", err)
	}
	if _, err := c.Head(ctx, del.URL); !errors.Is(err, client.ErrObjectNotFound) {
		t.Fatalf("HEAD after Delete: got %v, want ErrObjectNotFound", err)
	}
}
