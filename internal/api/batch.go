package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/assetgateway/assetgateway/internal/strictjson"
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
	var body struct {
		Tokens []strictjson.Value `json:"tokens"`
	}
	if err := strictjson.Unmarshal(raw, &body); err != nil {
		if p := strictjson.Problem(err); strings.HasPrefix(p, "unknown field") {
			return badRequest(jsonProblem(err))
		}
		return badRequest(`invalid JSON body: want {"tokens": [...]}`)
	}
	switch n := len(body.Tokens); {
	case n == 0:
		return badRequest("tokens: at least one")
	case n > maxBatch:
		return badRequest(fmt.Sprintf("tokens: at most %d per batch", maxBatch))
	}

	var problems []string
	reqs := make([]createRequest, len(body.Tokens))
	decoded := make([]bool, len(body.Tokens))
	callbacks := make([]string, len(body.Tokens))
	for i, itemRaw := range body.Tokens {
		if err := strictjson.Unmarshal(itemRaw, &reqs[i]); err != nil {
			p := jsonProblem(err)
			sep := "."
			if strings.HasPrefix(p, "unknown field") || strings.HasPrefix(p, "invalid JSON") {
				sep = ": "
			}
			problems = append(problems, fmt.Sprintf("tokens[%d]%s%s", i, sep, p))
			continue
		}
		decoded[i], callbacks[i] = true, reqs[i].Callback
	}
	callbackErrs := a.checkCallbacks(r.Context(), callbacks) // every host looked up at once
	items := make([]token.Item, len(body.Tokens))
	seen := make(map[string]int, len(body.Tokens))
	for i := range reqs {
		if !decoded[i] {
			continue
		}
		at := fmt.Sprintf("tokens[%d]", i)
		tok, rec, ps := a.validate(&reqs[i], callbackErrs[i])
		for _, p := range ps {
			problems = append(problems, at+"."+p)
		}
		if t := reqs[i].Token; t != "" {
			if j, dup := seen[t]; dup {
				problems = append(problems, fmt.Sprintf("%s.token: the same as tokens[%d].token", at, j))
			}
			seen[t] = i
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
	writeJSON(w, http.StatusOK, map[string]any{"tokens": a.batchResults(items, results)})
	return nil
}

// batchResult is one item's result in the answer of POST /tokens.
type batchResult struct {
	Status   int     `json:"status"`
	Token    string  `json:"token,omitempty"`
	Method   string  `json:"method,omitempty"`
	Filename string  `json:"filename,omitempty"`
	ExpireAt int64   `json:"expire_at,omitempty"`
	URL      string  `json:"url,omitempty"`
	Code     string  `json:"code,omitempty"`
	Message  string  `json:"message,omitempty"`
	S3       *s3View `json:"s3,omitempty"`
}

// batchResults are the answer's results, one per item, in order: 201 with the POST /token
// fields, or the item's refusal.
func (a *API) batchResults(items []token.Item, results []error) []batchResult {
	out := make([]batchResult, len(items))
	for i, it := range items {
		if results[i] != nil {
			e := classify(results[i])
			out[i] = batchResult{Status: e.Status, Code: e.Code, Message: e.Message}
			continue
		}
		out[i] = batchResult{Status: http.StatusCreated, Token: it.Token, Method: it.Record.Method,
			Filename: it.Record.Filename, ExpireAt: it.Record.ExpireAt, URL: a.objectURL(it.Token), S3: a.s3Of(it.Token, it.Record)}
	}
	return out
}
