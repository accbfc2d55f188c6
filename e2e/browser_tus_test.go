package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// The tus part of TestBrowser: tus-js-client in the page, the page reloaded mid-upload.

// tusBundle is tus-js-client's browser build, served to the page by its own origin.
const tusBundle = tusDir + "/node_modules/tus-js-client/dist/tus.min.js"

// browserTus is what run.mjs reports of the tus upload across a reload.
type browserTus struct {
	Started struct {
		Accepted int64  `json:"accepted"`
		URL      string `json:"url"`
		Error    string `json:"error"`
	} `json:"started"`
	Resumed struct {
		URL         string `json:"url"`
		PreviousURL string `json:"previousUrl"`
		Error       string `json:"error"`
	} `json:"resumed"`
	Requests []struct {
		Phase  string  `json:"phase"` // "before" or "after" the reload
		Method string  `json:"method"`
		Offset *string `json:"offset"`
	} `json:"requests"`
}

// mintTus mints a one-upload PUT token for the file the page announces and answers its
// tus_url.
func (a *pageApp) mintTus(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil || in.Name == "" || in.Size < 0 {
		a.fail(w, http.StatusBadRequest, fmt.Sprintf("mint-tus: bad request (%v)", err))
		return
	}
	key := "browser/tus/" + in.Name
	a.mu.Lock()
	a.tusKey = key
	a.mu.Unlock()
	a.mint(w, "tus", map[string]any{"bucket": "assets", "key": key, "method": "PUT", "size": in.Size})
}

// checkBrowserTus: the upload started before the reload was found again after it and resumed
// from the offset the gateway had stored (the first PATCH after the resuming HEAD carries an
// Upload-Offset above zero); the object is whole; one hit was spent.
func checkBrowserTus(t *testing.T, env *Env, c client, res browserResult, app *pageApp, access accessEntries, data []byte) {
	tr := res.Tus
	if tr.Started.Error != "" || tr.Resumed.Error != "" {
		t.Fatalf("tus in the page: before the reload %+v, after it %+v", tr.Started, tr.Resumed)
	}
	if tr.Resumed.URL != tr.Started.URL || tr.Resumed.PreviousURL != tr.Started.URL {
		t.Errorf("the resumed upload is %q (found %q), want the one started before the reload, %q",
			tr.Resumed.URL, tr.Resumed.PreviousURL, tr.Started.URL)
	}
	var log []string
	headAt, resumedAt := -1, int64(-1)
	for i, q := range tr.Requests {
		off := ""
		if q.Offset != nil {
			off = " @" + *q.Offset
		}
		log = append(log, q.Phase+": "+q.Method+off)
		switch {
		case q.Phase == "after" && q.Method == "HEAD" && headAt < 0:
			headAt = i
		case headAt >= 0 && q.Method == "PATCH" && resumedAt < 0 && q.Offset != nil:
			resumedAt, _ = strconv.ParseInt(*q.Offset, 10, 64)
		}
	}
	t.Logf("tus requests: %v; %d bytes stored before the reload", log, tr.Started.Accepted)
	if headAt < 0 || resumedAt <= 0 {
		t.Errorf("after the reload: a HEAD at %d, then a first PATCH at offset %d; want a HEAD, then a PATCH above 0", headAt, resumedAt)
	}
	app.mu.Lock()
	key := app.tusKey
	app.mu.Unlock()
	if got, _ := getObjectTyped(t, env, key); !bytes.Equal(got, data) {
		t.Errorf("object in MinIO: %d bytes, want the %d uploaded", len(got), len(data))
	}
	tok := app.minted()["tus"]
	if n := c.usedHits(tok); n != 1 {
		t.Errorf("used_hits of the tus token: %d, want 1", n)
	}
	if n := access.count(tok, "OPTIONS", 204); n < 1 {
		t.Errorf("preflights answered 204 for the tus token: %d, want at least 1\n%s", n, access.forToken(tok))
	}
}
