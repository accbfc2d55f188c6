package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// The by-ID half of the contract: GetID and AccessID find a record without the token, and
// Request.S3 binds an access to the credential nonce the record was minted with.

var byIDCases = []struct {
	name string
	fn   func(*testing.T, Factory)
}{
	{"GetIDAccessID", testGetIDAccessID},
	{"S3Nonce", testS3Nonce},
}

func testGetIDAccessID(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok := newToken()
	rec := record(clock, token.MethodGet, 2)
	rec.S3 = "nonce-1"
	mustCreate(t, s, tok, rec)
	id := token.ID(tok)
	got, err := s.GetID(ctx, id)
	if err != nil || !reflect.DeepEqual(got, rec) {
		t.Fatalf("GetID: got %+v, %v; want %+v", got, err, rec)
	}
	g, err := s.AccessID(ctx, id, token.Request{Method: token.MethodGet, ContentLength: -1})
	if err != nil || !g.Consumed || g.Record.UsedHits != 1 {
		t.Fatalf("AccessID GET: got %+v, %v; want a consumed hit", g, err)
	}
	// The same record as Access sees: the hit counts toward the token's max_hits.
	if _, err := s.Access(ctx, tok, token.Request{Method: token.MethodGet, ContentLength: -1}); err != nil {
		t.Fatalf("Access after AccessID: %v", err)
	}
	_, err = s.AccessID(ctx, id, token.Request{Method: token.MethodGet, ContentLength: -1})
	wantErr(t, "AccessID past max_hits", err, token.ErrHitsExceeded)
	if err := s.Refund(ctx, g); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, tok).UsedHits; got != 1 {
		t.Fatalf("used_hits after refunding an AccessID grant: got %d, want 1", got)
	}
	_, err = s.GetID(ctx, token.ID(newToken()))
	wantErr(t, "GetID of an unknown id", err, token.ErrNotFound)
	_, err = s.AccessID(ctx, token.ID(newToken()), token.Request{Method: token.MethodHead, ContentLength: -1})
	wantErr(t, "AccessID of an unknown id", err, token.ErrNotFound)
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetID(ctx, id)
	wantErr(t, "GetID of a deleted token", err, token.ErrNotFound)
}

func testS3Nonce(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok := newToken()
	rec := record(clock, token.MethodGet, 1)
	rec.S3 = "nonce-a"
	mustCreate(t, s, tok, rec)
	id := token.ID(tok)
	for _, m := range []string{token.MethodGet, token.MethodHead} {
		_, err := s.AccessID(ctx, id, token.Request{Method: m, ContentLength: -1, S3: "nonce-b"})
		wantErr(t, m+" with another nonce", err, token.ErrNotFound)
	}
	if got := mustGet(t, s, tok).UsedHits; got != 0 {
		t.Fatalf("used_hits after refused nonces: got %d, want 0 (nothing consumed)", got)
	}
	if _, err := s.AccessID(ctx, id, token.Request{Method: token.MethodGet, ContentLength: -1, S3: "nonce-a"}); err != nil {
		t.Fatalf("AccessID with the record's nonce: %v", err)
	}
	// Deleted and minted again under the same string: the old nonce finds nothing.
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	rec.S3 = "nonce-c"
	mustCreate(t, s, tok, rec)
	_, err := s.AccessID(ctx, id, token.Request{Method: token.MethodGet, ContentLength: -1, S3: "nonce-a"})
	wantErr(t, "the old nonce after the token was minted again", err, token.ErrNotFound)
	// A token without S3 credentials is found by no nonce.
	plain := newToken()
	mustCreate(t, s, plain, record(clock, token.MethodGet, 1))
	_, err = s.AccessID(ctx, token.ID(plain), token.Request{Method: token.MethodGet, ContentLength: -1, S3: "nonce-a"})
	wantErr(t, "a nonce against a token without S3 credentials", err, token.ErrNotFound)
}
