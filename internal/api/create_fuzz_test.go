package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// fuzzResolver answers every name with a public address (tests have no DNS).
type fuzzResolver struct{}

func (fuzzResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
}

// FuzzCreateToken sends arbitrary bodies to POST /token. It never answers 5xx; an error is
// the contract's JSON with a message; a body that is not valid UTF-8 is refused (JSON must be
// UTF-8: decoding it anyway would store a key or a name the client never sent); a token that
// is minted satisfies every field rule, as stored.
func FuzzCreateToken(f *testing.F) {
	const controlToken = "fuzz-control-token"
	store := token.NewMemoryStore(token.MemoryOptions{Retention: time.Hour})
	defer store.Close()
	files, err := objstore.NewFile(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	h := api.New(api.Options{
		Tokens:        store,
		Objects:       proxy.New(proxy.Options{Store: store, Buckets: map[string]objstore.Backend{"local": files}}),
		Buckets:       map[string]api.Bucket{"local": files},
		ControlTokens: []string{controlToken},
		Host:          "https://gw.example.com",
		MaxTTL:        24 * time.Hour,
		MaxBody:       8192,
		Callbacks:     &callback.Guard{Resolver: fuzzResolver{}},
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/token", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+controlToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated:
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
			var e struct{ Code, Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("POST /token %q: %d with body %q, want the contract's error JSON", body, rec.Code, rec.Body)
			}
			return
		default:
			t.Fatalf("POST /token %q: got %d %s", body, rec.Code, rec.Body)
		}
		if !utf8.Valid(body) {
			t.Fatalf("POST /token with a body that is not valid UTF-8 %q: got 201, want 400", body)
		}
		var out struct{ Token string }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || !token.WellFormed(out.Token) {
			t.Fatalf("POST /token %q: 201 with %q: no well-formed token", body, rec.Body)
		}
		r, err := store.Get(context.Background(), out.Token)
		if err != nil {
			t.Fatalf("POST /token %q: 201 but the record is not stored: %v", body, err)
		}
		noControl := func(s string) bool { return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0 }
		switch {
		case r.Key == "" || len(r.Key) > 1024 || !noControl(r.Key):
			t.Fatalf("POST /token %q stored key %q", body, r.Key)
		case len(r.Filename) > 512 || !noControl(r.Filename):
			t.Fatalf("POST /token %q stored filename %q", body, r.Filename)
		case len(r.Callback) > callback.MaxURLLength || (r.Callback != "" && (&callback.Guard{Resolver: fuzzResolver{}}).CheckURL(context.Background(), r.Callback) != nil):
			t.Fatalf("POST /token %q stored callback %q", body, r.Callback)
		case r.Method != token.MethodGet && r.Method != token.MethodHead && r.Method != token.MethodPut:
			t.Fatalf("POST /token %q stored method %q", body, r.Method)
		case r.Bucket != "local":
			t.Fatalf("POST /token %q stored bucket %q", body, r.Bucket)
		case r.MaxHits == 0 || r.MaxHits < token.Unlimited || r.Size < token.Unlimited:
			t.Fatalf("POST /token %q stored max_hits %d, size %d", body, r.MaxHits, r.Size)
		case r.ExpireAt <= time.Now().Unix()-1 || r.ExpireAt > time.Now().Add(24*time.Hour).Unix()+1:
			t.Fatalf("POST /token %q stored expire_at %d, outside now … now+max_ttl", body, r.ExpireAt)
		}
	})
}
