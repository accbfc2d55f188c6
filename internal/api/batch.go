package api

import (
	"context"
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
	reqs, problems, err := decodeBatch(raw)
	if err != nil {
		return err
	}
	items, more := a.validateBatch(r.Context(), reqs)
	problems = append(problems, more...)
	if len(problems) > 0 {
		if len(problems) > maxProblemsShown {
			problems = append(problems[:maxProblemsShown], fmt.Sprintf("… and %d more", len(problems)-maxProblemsShown))
		}
		return badRequest(strings.Join(problems, "; "))
	}
	return a.mintBatch(w, r, items)
}

// decodeBatch decodes {"tokens": [...]}: the items that decode (nil where one did not), and
// a problem for each that did not.
func decodeBatch(raw []byte) ([]*createRequest, []string, error) {
	var body struct {
		Tokens []strictjson.Value `json:"tokens"`
	}
	if err := strictjson.Unmarshal(raw, &body); err != nil {
		if p := strictjson.Problem(err); strings.HasPrefix(p, "unknown field") {
			return nil, nil, badRequest(jsonProblem(err))
		}
		return nil, nil, badRequest(`invalid JSON body: want {"tokens": [...]}`)
	}
	switch n := len(body.Tokens); {
	case n == 0:
		return nil, nil, badRequest("tokens: at least one")
	case n > maxBatch:
		return nil, nil, badRequest(fmt.Sprintf("tokens: at most %d per batch", maxBatch))
	}
	var problems []string
	reqs := make([]*createRequest, len(body.Tokens))
	for i, itemRaw := range body.Tokens {
		var req createRequest
		if err := strictjson.Unmarshal(itemRaw, &req); err != nil {
			p := jsonProblem(err)
			sep := "."
			if strings.HasPrefix(p, "unknown field") || strings.HasPrefix(p, "invalid JSON") {
				sep = ": "
			}
			problems = append(problems, fmt.Sprintf("tokens[%d]%s%s", i, sep, p))
			continue
		}
		reqs[i] = &req
	}
	return reqs, problems, nil
}

// validateBatch checks every decoded item (their callback hosts looked up at once) and builds
// the records; two items may not name the same custom token.
func (a *API) validateBatch(ctx context.Context, reqs []*createRequest) ([]token.Item, []string) {
	callbacks := make([]string, len(reqs))
	for i, req := range reqs {
		if req != nil {
			callbacks[i] = req.Callback
		}
	}
	callbackErrs := a.checkCallbacks(ctx, callbacks)
	var problems []string
	items := make([]token.Item, len(reqs))
	seen := make(map[string]int, len(reqs))
	for i, req := range reqs {
		if req == nil {
			continue
		}
		at := fmt.Sprintf("tokens[%d]", i)
		tok, rec, ps := a.validate(req, callbackErrs[i])
		for _, p := range ps {
			problems = append(problems, at+"."+p)
		}
		if t := req.Token; t != "" {
			if j, dup := seen[t]; dup {
				problems = append(problems, fmt.Sprintf("%s.token: the same as tokens[%d].token", at, j))
			}
			seen[t] = i
		}
		items[i] = token.Item{Token: tok, Record: rec}
	}
	return items, problems
}

// mintBatch files a valid batch in one round trip and answers each item's result in order.
func (a *API) mintBatch(w http.ResponseWriter, r *http.Request, items []token.Item) error {
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
	Uppy     string  `json:"uppy_endpoint,omitempty"`
	TusURL   string  `json:"tus_url,omitempty"`
	S3       *s3View `json:"s3,omitempty"`
	Code     string  `json:"code,omitempty"`
	Message  string  `json:"message,omitempty"`
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
			Filename: it.Record.Filename, ExpireAt: it.Record.ExpireAt, URL: a.objectURL(it.Token),
			Uppy: a.uppyEndpoint(it.Token, &it.Record), TusURL: a.tusURL(it.Token, it.Record), S3: a.s3Of(it.Token, it.Record)}
	}
	return out
}
