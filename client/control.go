package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// CreateToken mints a token (POST /token). Errors: ErrBadRequest (every invalid field is
// named in the message), ErrTokenExists, ErrRequestTooLarge, ErrUnauthorized, ErrForbidden,
// ErrStoreUnavailable.
func (c *Client) CreateToken(ctx context.Context, req CreateRequest) (*Created, error) {
	var out Created
	if err := c.controlCall(ctx, http.MethodPost, "/token", &req, http.StatusCreated, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BatchResult is one item's result of CreateTokens: Status 201 with the fields of a Created,
// or 409 with Code CodeTokenExists (a custom token that was already taken; nothing was
// minted for it).
type BatchResult struct {
	Status   int    `json:"status"`
	Token    string `json:"token,omitempty"`
	Method   string `json:"method,omitempty"`
	Filename string `json:"filename,omitempty"`
	ExpireAt int64  `json:"expire_at,omitempty"`
	URL      string `json:"url,omitempty"`
	Uploads
	S3      *S3Credentials `json:"s3,omitempty"`
	Code    string         `json:"code,omitempty"`
	Message string         `json:"message,omitempty"`
}

// Err returns nil for a minted item, else an *Error that matches the sentinel of its code
// (errors.Is(r.Err(), ErrTokenExists)).
func (r BatchResult) Err() error {
	if r.Status == http.StatusCreated {
		return nil
	}
	return &Error{Status: r.Status, Code: r.Code, Message: r.Message}
}

// Created returns a minted item as the answer of CreateToken would have it; nil for a
// refused one.
func (r BatchResult) Created() *Created {
	if r.Status != http.StatusCreated {
		return nil
	}
	return &Created{Token: r.Token, Method: r.Method, Filename: r.Filename, ExpireAt: r.ExpireAt, URL: r.URL}
}

// MaxBatch is the most tokens one CreateTokens call mints.
const MaxBatch = 1000

// CreateTokens mints up to MaxBatch tokens in one call (POST /tokens) and returns one result
// per request, in order. Validation is all or nothing: one invalid request refuses the whole
// batch with ErrBadRequest, whose message names every problem by its index
// ("tokens[3].key: required"). A valid batch is minted at once, except the items whose custom
// token was already taken: those results have Status 409 (see BatchResult.Err). Errors:
// ErrBadRequest (also for an empty batch), ErrRequestTooLarge (the whole body is over the
// gateway's server.max_control_body), ErrUnauthorized, ErrForbidden, ErrStoreUnavailable.
func (c *Client) CreateTokens(ctx context.Context, reqs []CreateRequest) ([]BatchResult, error) {
	if reqs == nil {
		reqs = []CreateRequest{} // "tokens": [], which the gateway refuses with its own words
	}
	in := struct {
		Tokens []CreateRequest `json:"tokens"`
	}{reqs}
	var out struct {
		Tokens []BatchResult `json:"tokens"`
	}
	if err := c.controlCall(ctx, http.MethodPost, "/tokens", &in, http.StatusOK, &out); err != nil {
		return nil, err
	}
	if len(out.Tokens) != len(reqs) {
		return nil, fmt.Errorf("assetgateway: POST /tokens: %d results for %d requests", len(out.Tokens), len(reqs))
	}
	return out.Tokens, nil
}

// GetToken returns a token's record (GET /token/{token}); records stay readable for the
// gateway's token.retention after they expire. Errors: ErrTokenNotFound, ErrUnauthorized,
// ErrForbidden, ErrStoreUnavailable.
func (c *Client) GetToken(ctx context.Context, token string) (*Token, error) {
	if err := checkToken(token); err != nil {
		return nil, err
	}
	var out Token
	if err := c.controlCall(ctx, http.MethodGet, "/token/"+url.PathEscape(token), nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns a token's record and the state of its object (GET /token/{token}/status):
// the way to learn that an upload landed without a webhook. Errors: those of GetToken, and
// ErrUpstream when the object store cannot be asked.
func (c *Client) Status(ctx context.Context, token string) (*Status, error) {
	if err := checkToken(token); err != nil {
		return nil, err
	}
	var out Status
	if err := c.controlCall(ctx, http.MethodGet, "/token/"+url.PathEscape(token)+"/status", nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteToken revokes a token at once, on every replica (DELETE /token/{token}). Errors:
// ErrTokenNotFound (there was none: a typo, or it already vanished), ErrUnauthorized,
// ErrForbidden, ErrStoreUnavailable.
func (c *Client) DeleteToken(ctx context.Context, token string) error {
	if err := checkToken(token); err != nil {
		return err
	}
	return c.controlCall(ctx, http.MethodDelete, "/token/"+url.PathEscape(token), nil, http.StatusNoContent, nil)
}

// FailedCallbacks lists the webhooks that were given up, newest first (GET /callbacks/failed).
// limit is 1–1000; 0 or less asks for the gateway's default (100). Errors: ErrBadRequest (limit
// above 1000), ErrUnauthorized, ErrForbidden.
func (c *Client) FailedCallbacks(ctx context.Context, limit int) ([]FailedCallback, error) {
	path := "/callbacks/failed"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out struct {
		Failed []FailedCallback `json:"failed"`
	}
	if err := c.controlCall(ctx, http.MethodGet, path, nil, http.StatusOK, &out); err != nil {
		return nil, err
	}
	if out.Failed == nil {
		out.Failed = []FailedCallback{}
	}
	return out.Failed, nil
}
