package s3api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/assetgateway/assetgateway/internal/edge"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// signedPut is a PutObject signed by hand (the SDK's signer), with payload hash payload and
// body; the token is minted on ts.
func signedPut(t *testing.T, ts *testServer, base, key, payload string, length int64, body io.Reader) (*http.Request, string) {
	t.Helper()
	tok := token.Generate()
	nonce := ts.keys.NewNonce()
	akid, secret := ts.keys.Credentials(token.ID(tok), nonce)
	rec := token.Record{Bucket: testAlias, Key: key, Method: token.MethodPut, MaxHits: 1, Size: token.Unlimited,
		ExpireAt: time.Now().Add(time.Hour).Unix(), S3: nonce}
	if err := ts.store.Create(context.Background(), tok, rec); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("PUT", base+"/"+testAlias+"/"+key, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("X-Amz-Content-Sha256", payload)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, req, payload, "s3", testRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req, tok
}

// TestSlowBody: the listener runs behind the edge's slow-body limit; a stalled upload is
// answered RequestTimeout, nothing is stored, and the hit goes back.
func TestSlowBody(t *testing.T) {
	ts := newTestServer(t)
	h := ts.srv.Config.Handler
	srv := httptest.NewServer(edge.Handler(h, edge.Limits{BodyIdle: 300 * time.Millisecond}))
	t.Cleanup(srv.Close)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { _, _ = pw.Write([]byte("only the first bytes")) }() // then nothing
	req, tok := signedPut(t, ts, srv.URL, "slow.bin", "UNSIGNED-PAYLOAD", 1000, pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "<Code>RequestTimeout</Code>") {
		t.Fatalf("got %d %s, want 400 RequestTimeout", resp.StatusCode, b)
	}
	if _, err := ts.bucket.Head(context.Background(), "slow.bin", objstore.Conditions{}); err == nil || ts.used(t, tok) != 0 {
		t.Fatalf("after the stall: object %v, used_hits %d; want none and 0", err, ts.used(t, tok))
	}
}

// TestBodyThatFailsItsHash: a body whose SHA-256 is not the signed one is refused
// (XAmzContentSHA256Mismatch) before its last byte is stored.
func TestBodyThatFailsItsHash(t *testing.T) {
	ts := newTestServer(t)
	sum := sha256.Sum256([]byte("the body that was signed"))
	req, tok := signedPut(t, ts, ts.srv.URL, "hash.bin", hex.EncodeToString(sum[:]), 24, strings.NewReader("the body that was SENT!!"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "XAmzContentSHA256Mismatch") {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	if _, err := ts.bucket.Head(context.Background(), "hash.bin", objstore.Conditions{}); err == nil || ts.used(t, tok) != 0 {
		t.Fatalf("after the refusal: object %v, used_hits %d; want none and 0", err, ts.used(t, tok))
	}
}
