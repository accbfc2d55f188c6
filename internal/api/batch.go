package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/assetgateway/assetgateway/internal/token"
)

// maxBatch bounds POST /tokens.
const maxBatch = 1000

// maxProblemsShown bounds the problems one 400 lists.
const maxProblemsShown = 50

// createTokens serves POST /tokens: {"tokens":[<POST /token body>, …]} (at most 1000).
// Validation is all or nothing: one bad item refuses the whole batch with every problem
// named ("tokens[3].key: required"). A valid batch is filed in one round trip to the store,
// and the answer lists each item's result in order: 201 with the POST /token fields, or
// 409 token_exists for a custom token that was taken.
func (a *API) createTokens(w http.ResponseWriter, r *http.Request) error {
	raw, e := a.readBody(w, r)
	if e != nil {
		return e
	}
	if e := checkFields(raw, batchFields); e != nil {
		return e
	}
	var body struct {
		Tokens []json.RawMessage `json:"tokens"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&body); err != nil || len(bytes.TrimSpace(raw[dec.InputOffset():])) > 0 {
		return badRequest(`invalid JSON body: want {"tokens": [...]}`)
	}
	switch n := len(body.Tokens); {
	case n == 0:
		return badRequest("tokens: at least one")
	case n > maxBatch:
		return badRequest(fmt.Sprintf("tokens: at most %d per batch", maxBatch))
	}

	var problems []string
	items := make([]token.Item, len(body.Tokens))
	seen := make(map[string]int, len(body.Tokens))
	for i, itemRaw := range body.Tokens {
		at := fmt.Sprintf("tokens[%d]", i)
		var req createRequest
		if e := checkFields(itemRaw, createFields); e != nil {
			sep := "."
			if strings.HasPrefix(e.Message, "unknown field") {
				sep = ": "
			}
			problems = append(problems, at+sep+e.Message)
			continue
		}
		d := json.NewDecoder(bytes.NewReader(itemRaw))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil {
			problems = append(problems, at+": "+decodeProblem(err, "not a JSON object"))
			continue
		}
		tok, rec, ps := a.validate(r.Context(), &req)
		for _, p := range ps {
			problems = append(problems, at+"."+p)
		}
		if req.Token != "" {
			if j, dup := seen[req.Token]; dup {
				problems = append(problems, fmt.Sprintf("%s.token: the same as tokens[%d].token", at, j))
			}
			seen[req.Token] = i
		}
		items[i] = token.Item{Token: tok, Record: rec}
	}
	if len(problems) > 0 {
		if len(problems) > maxProblemsShown {
			problems = append(problems[:maxProblemsShown], fmt.Sprintf("… and %d more", len(problems)-maxProblemsShown))
		}
		return badRequest(strings.Join(problems, "; "))
	}

	results, err := a.tokens.CreateMany(r.Context(), items)
	if err != nil {
		return err
	}
	type result struct {
		Status   int    `json:"status"`
		Token    string `json:"token,omitempty"`
		Method   string `json:"method,omitempty"`
		Filename string `json:"filename,omitempty"`
		ExpireAt int64  `json:"expire_at,omitempty"`
		URL      string `json:"url,omitempty"`
		TusURL   string `json:"tus_url,omitempty"`
		Code     string `json:"code,omitempty"`
		Message  string `json:"message,omitempty"`
	}
	out := make([]result, len(items))
	for i, it := range items {
		if results[i] != nil {
			e := classify(results[i])
			out[i] = result{Status: e.Status, Code: e.Code, Message: e.Message}
			continue
		}
		out[i] = result{Status: http.StatusCreated, Token: it.Token, Method: it.Record.Method,
			Filename: it.Record.Filename, ExpireAt: it.Record.ExpireAt, URL: a.objectURL(it.Token),
			TusURL: a.tusURL(it.Token, it.Record)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

// batchFields are the members POST /tokens accepts.
var batchFields = map[string]bool{"tokens": true}
