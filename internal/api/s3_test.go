package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/s3api"
	"github.com/assetgateway/assetgateway/internal/token"
)

func withS3(o *api.Options) {
	o.S3 = &api.S3{Credentials: s3api.NewKeys("api-test-s3-server-key-0123456789abcdef"), Endpoint: "http://s3.example.com", Region: "eu-west-1"}
}

// TestMintS3: "s3": true answers credentials the listener derives again from the access key
// ID alone, and files the nonce they name; each minting gets its own.
func TestMintS3(t *testing.T) {
	f := newFixture(t, withS3)
	keys := s3api.NewKeys("api-test-s3-server-key-0123456789abcdef")
	var out struct {
		Token string
		S3    map[string]string
	}
	expectJSON(t, f.control("POST", "/token", `{"bucket":"local","key":"k/a.bin","method":"PUT","s3":true}`), http.StatusCreated, &out)
	s := out.S3
	if s["endpoint"] != "http://s3.example.com" || s["region"] != "eu-west-1" || s["bucket"] != "local" || s["key"] != "k/a.bin" {
		t.Fatalf("s3: got %v", s)
	}
	if secret, err := keys.Secret(context.Background(), s["access_key_id"]); err != nil || secret != s["secret_access_key"] {
		t.Fatalf("the secret is not the one derived from the access key ID (%v)", err)
	}
	rec, err := f.store.Get(context.Background(), out.Token)
	if err != nil || rec.S3 == "" || !strings.HasSuffix(s["access_key_id"], rec.S3) || !strings.Contains(s["access_key_id"], token.ID(out.Token)) {
		t.Fatalf("the record's nonce %q does not match the access key ID (%v)", rec.S3, err)
	}
	var batch struct{ Tokens []map[string]any }
	expectJSON(t, f.control("POST", "/tokens", `{"tokens":[{"bucket":"local","prefix":"p/","method":"LIST","s3":true},`+
		`{"bucket":"local","key":"k","method":"GET"}]}`), http.StatusOK, &batch)
	bs, ok := batch.Tokens[0]["s3"].(map[string]any)
	if !ok || bs["prefix"] != "p/" || bs["access_key_id"] == s["access_key_id"] || batch.Tokens[1]["s3"] != nil {
		t.Fatalf("batch: got %v", batch.Tokens)
	}
	var plain map[string]any
	expectJSON(t, f.control("POST", "/token", `{"bucket":"local","key":"k","method":"GET"}`), http.StatusCreated, &plain)
	if _, ok := plain["s3"]; ok {
		t.Fatalf("a token minted without s3 got credentials: %v", plain)
	}
}

func TestMintS3Off(t *testing.T) {
	f := newFixture(t)
	resp := f.control("POST", "/token", `{"bucket":"local","key":"k","method":"GET","s3":true}`)
	var e map[string]string
	expectJSON(t, resp, http.StatusBadRequest, &e)
	if !strings.Contains(e["message"], "s3: the S3 listener is off") {
		t.Fatalf("got %q", e["message"])
	}
}
