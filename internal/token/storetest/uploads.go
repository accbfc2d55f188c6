package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// The upload-session half of the contract (token.Uploads).

var uploadCases = []struct {
	name string
	fn   func(*testing.T, Factory)
}{
	{"UploadCreateGet", testUploadCreateGet},
	{"UploadUpdate", testUploadUpdate},
	{"UploadConcurrentUpdates", testUploadConcurrentUpdates},
	{"UploadGeneration", testUploadGeneration},
	{"UploadDeleteRefunds", testUploadDeleteRefunds},
	{"UploadLock", testUploadLock},
	{"UploadExpired", testUploadExpired},
	{"UploadTokenDeletedIsDue", testUploadTokenDeletedIsDue},
}

// putGrant mints a PUT token and consumes its hit, as creating an upload does.
func putGrant(t *testing.T, s token.Store, clock *Clock, maxHits int64) (string, *token.Grant) {
	t.Helper()
	tok := newToken()
	mustCreate(t, s, tok, record(clock, token.MethodPut, maxHits))
	g, err := s.Access(context.Background(), tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	if err != nil {
		t.Fatalf("Access PUT: %v", err)
	}
	return tok, g
}

func newUpload(clock *Clock) token.Upload {
	return token.Upload{Kind: "tus", Bucket: "local", Key: "videos/demo.mp4", Length: -1,
		ExpiresAt: clock.Now().Add(10 * time.Minute).UnixMilli(), Hit: true}
}

func mustCreateUpload(t *testing.T, s token.Store, g *token.Grant, u token.Upload) token.Upload {
	t.Helper()
	u, err := s.CreateUpload(context.Background(), g, u)
	if err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	return u
}

func mustUpload(t *testing.T, s token.Store, tok, id string) (token.Upload, *token.Grant) {
	t.Helper()
	u, g, err := s.Upload(context.Background(), token.ID(tok), id)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return u, g
}

func testUploadCreateGet(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok, g := putGrant(t, s, clock, 1)
	in := newUpload(clock)
	in.State = []byte{0, 1, 2, 0xff, '\n'}
	in.Meta = map[string]string{"filename": "報告.pdf", "filetype": "application/pdf"}
	u := mustCreateUpload(t, s, g, in)
	if !token.ValidUploadID(u.ID) || u.Version != 1 {
		t.Fatalf("created upload: id %q version %d, want a new id and version 1", u.ID, u.Version)
	}
	want := in
	want.ID, want.Version = u.ID, 1
	got, tg := mustUpload(t, s, tok, u.ID)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Upload: got %+v, want %+v", got, want)
	}
	if tg.Consumed || tg.Record.UsedHits != 1 || tg.Record.Key != g.Record.Key {
		t.Fatalf("Upload's grant: consumed %v, used %d, key %q; want a grant of the token as it stands, consuming nothing",
			tg.Consumed, tg.Record.UsedHits, tg.Record.Key)
	}
	// A Grant from Upload marks the token uploaded.
	if err := s.MarkUploaded(ctx, tg); err != nil || !mustGet(t, s, tok).Uploaded {
		t.Fatalf("MarkUploaded with the upload's grant: %v", err)
	}
	_, _, err := s.Upload(ctx, token.ID(tok), token.NewUploadID())
	if !errors.Is(err, token.ErrUploadNotFound) || !errors.Is(err, token.ErrNotFound) {
		t.Fatalf("unknown upload: got %v, want ErrUploadNotFound (matching ErrNotFound)", err)
	}
	_, _, err = s.Upload(ctx, token.ID(newToken()), u.ID)
	if !errors.Is(err, token.ErrNotFound) || errors.Is(err, token.ErrUploadNotFound) {
		t.Fatalf("upload id under another token: got %v, want ErrNotFound (the token)", err)
	}
	_, err = s.CreateUpload(ctx, g, token.Upload{ID: u.ID, Kind: "tus", Length: 1, ExpiresAt: in.ExpiresAt})
	wantErr(t, "CreateUpload with a taken id", err, token.ErrExists)
	named := in
	named.ID = token.NewUploadID()
	if got := mustCreateUpload(t, s, g, named); got.ID != named.ID {
		t.Fatalf("CreateUpload with an id: got %q, want %q", got.ID, named.ID)
	}
}

func testUploadUpdate(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok, g := putGrant(t, s, clock, 1)
	u := mustCreateUpload(t, s, g, newUpload(clock))
	next := u
	next.StoreID, next.Length, next.Offset, next.Parts, next.Pending = "store-upload-1", 1<<30, 13<<20, 1, 5<<20
	next.State, next.Meta, next.Hit = []byte("digest"), map[string]string{"a": "b"}, false
	next.Kind, next.Bucket, next.Key = "other", "other", "other" // never changed by an update
	updated, err := s.UpdateUpload(ctx, token.ID(tok), next)
	if err != nil || updated.Version != 2 {
		t.Fatalf("UpdateUpload: got version %d, %v; want 2", updated.Version, err)
	}
	got, _ := mustUpload(t, s, tok, u.ID)
	want := next
	want.Kind, want.Bucket, want.Key, want.Version = u.Kind, u.Bucket, u.Key, 2
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after UpdateUpload: got %+v, want %+v", got, want)
	}
	stale := next // still version 1
	stale.Offset = 99
	_, err = s.UpdateUpload(ctx, token.ID(tok), stale)
	wantErr(t, "UpdateUpload of version 1 after version 2", err, token.ErrConflict)
	if got, _ := mustUpload(t, s, tok, u.ID); got.Offset != next.Offset {
		t.Fatalf("a refused update changed the offset to %d", got.Offset)
	}
	// Cleared fields come back empty.
	cleared := got
	cleared.StoreID, cleared.State, cleared.Meta = "", nil, nil
	if _, err := s.UpdateUpload(ctx, token.ID(tok), cleared); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustUpload(t, s, tok, u.ID); got.StoreID != "" || got.State != nil || got.Meta != nil || got.Version != 3 {
		t.Fatalf("after clearing: got %+v", got)
	}
	missing := u
	missing.ID = token.NewUploadID()
	_, err = s.UpdateUpload(ctx, token.ID(tok), missing)
	wantErr(t, "UpdateUpload of an unknown upload", err, token.ErrUploadNotFound)
}

// testUploadConcurrentUpdates: 20 writers each add 1 to the offset by read, update, retry on
// conflict: the offset ends at exactly 20, and no update is lost.
func testUploadConcurrentUpdates(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok, g := putGrant(t, s, clock, 1)
	u := mustCreateUpload(t, s, g, newUpload(clock))
	var wg sync.WaitGroup
	conflicts := make(chan struct{}, 1000)
	for range 20 {
		wg.Go(func() {
			for {
				cur, _, err := s.Upload(ctx, token.ID(tok), u.ID)
				if err != nil {
					t.Errorf("Upload: %v", err)
					return
				}
				cur.Offset++
				_, err = s.UpdateUpload(ctx, token.ID(tok), cur)
				if errors.Is(err, token.ErrConflict) {
					conflicts <- struct{}{}
					continue
				}
				if err != nil {
					t.Errorf("UpdateUpload: %v", err)
				}
				return
			}
		})
	}
	wg.Wait()
	got, _ := mustUpload(t, s, tok, u.ID)
	if got.Offset != 20 || got.Version != 21 {
		t.Fatalf("after 20 concurrent increments: offset %d version %d, want 20 and 21 (%d conflicts retried)", got.Offset, got.Version, len(conflicts))
	}
}

// testUploadGeneration: a token deleted and minted again under the same string never sees the
// old uploads, and an old grant cannot create uploads under the new token.
func testUploadGeneration(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok, g := putGrant(t, s, clock, 1)
	u := mustCreateUpload(t, s, g, newUpload(clock))
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Upload(ctx, token.ID(tok), u.ID)
	wantErr(t, "Upload after the token's deletion", err, token.ErrNotFound)
	_, err = s.UpdateUpload(ctx, token.ID(tok), u)
	wantErr(t, "UpdateUpload after the token's deletion", err, token.ErrNotFound)
	_, err = s.CreateUpload(ctx, g, newUpload(clock))
	wantErr(t, "CreateUpload with a deleted token's grant", err, token.ErrNotFound)

	mustCreate(t, s, tok, record(clock, token.MethodPut, 1))
	_, _, err = s.Upload(ctx, token.ID(tok), u.ID)
	wantErr(t, "Upload of the old generation's upload", err, token.ErrUploadNotFound)
	_, err = s.UpdateUpload(ctx, token.ID(tok), u)
	wantErr(t, "UpdateUpload of the old generation's upload", err, token.ErrUploadNotFound)
	_, err = s.CreateUpload(ctx, g, newUpload(clock))
	wantErr(t, "CreateUpload with the old generation's grant", err, token.ErrNotFound)
	// Deleting the old upload hands nothing back to the new token.
	g2, err := s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.DeleteUpload(ctx, token.ID(tok), u.ID)
	if got := mustGet(t, s, tok).UsedHits; got != 1 || g2.Record.UsedHits != 1 {
		t.Fatalf("used_hits of the new token after deleting an old upload: %d, want 1", got)
	}
}

// testUploadDeleteRefunds: deleting an upload that holds its hit hands it back, once; one
// that spent it (Hit false) hands back nothing.
func testUploadDeleteRefunds(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok, g := putGrant(t, s, clock, 1)
	u := mustCreateUpload(t, s, g, newUpload(clock))
	if err := s.DeleteUpload(ctx, token.ID(tok), u.ID); err != nil {
		t.Fatalf("DeleteUpload: %v", err)
	}
	if got := mustGet(t, s, tok).UsedHits; got != 0 {
		t.Fatalf("used_hits after deleting an upload holding its hit: %d, want 0", got)
	}
	err := s.DeleteUpload(ctx, token.ID(tok), u.ID)
	wantErr(t, "second DeleteUpload", err, token.ErrUploadNotFound)
	_, _, err = s.Upload(ctx, token.ID(tok), u.ID)
	wantErr(t, "Upload after DeleteUpload", err, token.ErrUploadNotFound)

	g, err = s.Access(ctx, tok, token.Request{Method: token.MethodPut, ContentLength: -1})
	if err != nil {
		t.Fatal(err)
	}
	spent := newUpload(clock)
	spent.Hit = false
	u = mustCreateUpload(t, s, g, spent)
	if err := s.DeleteUpload(ctx, token.ID(tok), u.ID); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, tok).UsedHits; got != 1 {
		t.Fatalf("used_hits after deleting an upload that spent its hit: %d, want 1", got)
	}
}

func testUploadLock(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok, g := putGrant(t, s, clock, 1)
	id := token.ID(tok)
	u := mustCreateUpload(t, s, g, newUpload(clock))
	lock := func(holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.LockUpload(ctx, id, u.ID, holder, ttl)
		if err != nil {
			t.Fatalf("LockUpload %s: %v", holder, err)
		}
		return ok
	}
	if !lock("a", time.Minute) || lock("b", time.Minute) || !lock("a", time.Minute) {
		t.Fatal("want: a takes the lock, b is refused, a renews it")
	}
	if err := s.UnlockUpload(ctx, id, u.ID, "b"); err != nil || lock("b", time.Minute) {
		t.Fatalf("b released a's lock (%v)", err)
	}
	if err := s.UnlockUpload(ctx, id, u.ID, "a"); err != nil || !lock("b", 100*time.Millisecond) {
		t.Fatalf("b could not take the lock a released (%v)", err)
	}
	// The lease ends by itself (on the store's clock, and in real time for Redis).
	clock.Advance(time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for !lock("c", time.Minute) {
		if time.Now().After(deadline) {
			t.Fatal("b's 100ms lease never ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err := s.LockUpload(ctx, id, token.NewUploadID(), "a", time.Minute)
	wantErr(t, "LockUpload of an unknown upload", err, token.ErrUploadNotFound)
	// Deleting the upload drops its lock.
	if err := s.DeleteUpload(ctx, id, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.LockUpload(ctx, id, u.ID, "a", time.Minute)
	wantErr(t, "LockUpload of a deleted upload", err, token.ErrUploadNotFound)
}

// dueIDs calls ExpiredUploads and returns the ids of tok's uploads it handed out, sorted,
// and those entries. (A store shared by several tests hands out other tests' uploads too.)
func dueIDs(t *testing.T, s token.Store, now time.Time, tok string) ([]string, []token.Due) {
	t.Helper()
	all, err := s.ExpiredUploads(context.Background(), now, 1000)
	if err != nil {
		t.Fatalf("ExpiredUploads: %v", err)
	}
	var ids []string
	var due []token.Due
	for _, d := range all {
		if d.TokenID == token.ID(tok) {
			ids = append(ids, d.Upload.ID)
			due = append(due, d)
		}
	}
	slices.Sort(ids)
	return ids, due
}

// testUploadExpired: ExpiredUploads hands out exactly the uploads past their expiry, each
// once while claimed, locked for the claimant; one whose claimant gives up comes back after
// the claim; deleted ones never do.
func testUploadExpired(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	now := clock.Now()
	tok, g := putGrant(t, s, clock, token.Unlimited)
	id := token.ID(tok)
	mk := func(expires time.Time) token.Upload {
		u := newUpload(clock)
		u.ExpiresAt = expires.UnixMilli()
		return mustCreateUpload(t, s, g, u)
	}
	a, b, later := mk(now.Add(-time.Second)), mk(now.Add(-time.Minute)), mk(now.Add(time.Hour))
	busy := mk(now.Add(-time.Second))
	if ok, err := s.LockUpload(ctx, id, busy.ID, "writer", time.Hour); !ok || err != nil {
		t.Fatalf("LockUpload: %v %v", ok, err)
	}
	ids, due := dueIDs(t, s, now, tok)
	if want := sorted(a.ID, b.ID); !slices.Equal(ids, want) {
		t.Fatalf("due: got %v, want %v (not the later one, not the locked one)", ids, want)
	}
	for _, d := range due {
		if d.TokenID != id || d.Holder == "" || !reflect.DeepEqual(d.Upload, map[string]token.Upload{a.ID: a, b.ID: b}[d.Upload.ID]) {
			t.Fatalf("due entry %+v", d)
		}
		if ok, _ := s.LockUpload(ctx, id, d.Upload.ID, "writer", time.Minute); ok {
			t.Fatal("a writer took the lock of an upload a janitor claimed")
		}
	}
	if ids, _ := dueIDs(t, s, now, tok); len(ids) != 0 {
		t.Fatalf("due while claimed: got %v, want none", ids)
	}
	// The claimant ends a, and gives up b; past the claim, b (only) is due again.
	if err := s.DeleteUpload(ctx, id, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.UnlockUpload(ctx, id, b.ID, due[0].Holder); err != nil {
		t.Fatal(err)
	}
	if ids, _ := dueIDs(t, s, now.Add(token.UploadClaim+time.Second), tok); !slices.Equal(ids, []string{b.ID}) {
		t.Fatalf("due after the claim: got %v, want %v", ids, []string{b.ID})
	}
	if ids, _ := dueIDs(t, s, now.Add(2*time.Hour), tok); !slices.Equal(ids, []string{later.ID}) {
		t.Fatalf("due two hours on: got %v, want only %v (b's claimant still holds its lock)", ids, later.ID)
	}
	// The upload a writer holds is looked at again within seconds, and handed out once free.
	if err := s.UnlockUpload(ctx, id, busy.ID, "writer"); err != nil {
		t.Fatal(err)
	}
	if ids, _ := dueIDs(t, s, now.Add(2*time.Hour+10*time.Second), tok); !slices.Equal(ids, []string{busy.ID}) {
		t.Fatalf("due 10s later, the writer gone: got %v, want %v", ids, []string{busy.ID})
	}
}

// testUploadTokenDeletedIsDue: deleting a token makes its uploads due at once.
func testUploadTokenDeletedIsDue(t *testing.T, newStore Factory) {
	clock := NewClock()
	s := newStore(t, clock, time.Hour)
	ctx := context.Background()
	tok, g := putGrant(t, s, clock, 1)
	u := mustCreateUpload(t, s, g, newUpload(clock))
	if ids, _ := dueIDs(t, s, clock.Now(), tok); len(ids) != 0 {
		t.Fatalf("due before the deletion: %v", ids)
	}
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	ids, due := dueIDs(t, s, clock.Now(), tok)
	if !slices.Equal(ids, []string{u.ID}) || due[0].Upload.Key != u.Key {
		t.Fatalf("due after the token's deletion: got %v, want %v", ids, []string{u.ID})
	}
	if err := s.DeleteUpload(ctx, token.ID(tok), u.ID); err != nil {
		t.Fatalf("DeleteUpload of a deleted token's upload: %v", err)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
