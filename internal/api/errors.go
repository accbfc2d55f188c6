package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/assetgateway/assetgateway/internal/edge"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Error is an error with its place in the contract: an HTTP status, a stable code and a
// message safe to show the client. Err, the cause, goes to the log only.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Contract codes not produced by the token store or the proxy.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeRequestTooLarge  = "request_too_large"
	CodeInternal         = "internal_error"
)

func badRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: msg}
}

// sentinels maps every error the token store and the proxy return to the contract.
var sentinels = []struct {
	err     error
	status  int
	code    string
	message string
}{
	{token.ErrNotFound, http.StatusNotFound, "token_not_found", "token not found"},
	{token.ErrExpired, http.StatusGone, "token_expired", "token has expired"},
	{token.ErrMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed", "this token does not allow the request method"},
	{token.ErrHitsExceeded, http.StatusConflict, "hits_exceeded", "this token has no hits left"},
	{token.ErrSizeExceeded, http.StatusRequestEntityTooLarge, "size_exceeded", "upload is larger than this token allows"},
	{token.ErrExists, http.StatusConflict, "token_exists", "token already exists"},
	{token.ErrUnavailable, http.StatusServiceUnavailable, "store_unavailable", "token store is unavailable, try again"},
	{objstore.ErrObjectNotFound, http.StatusNotFound, "object_not_found", "object not found"},
	{objstore.ErrRangeNotSatisfiable, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", "range is outside the object"},
	{objstore.ErrPreconditionFailed, http.StatusPreconditionFailed, "precondition_failed", "a precondition does not hold (If-Match, If-Unmodified-Since, or an object already exists)"},
	{proxy.ErrForbidden, http.StatusForbidden, "forbidden", "this token cannot be used from your address"},
	{proxy.ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type", "this token does not allow uploads of this Content-Type"},
	{proxy.ErrBadPath, http.StatusBadRequest, "bad_request", "invalid object path"},
	{objstore.ErrChecksumMismatch, http.StatusBadRequest, "checksum_mismatch", "the upload does not match the SHA-256 this token expects; nothing was stored"},
	{proxy.ErrUpstream, http.StatusBadGateway, "upstream_error", "object store request failed"},
	{edge.ErrBodyTimeout, http.StatusRequestTimeout, "request_timeout", "the request body stopped or arrived too slowly; nothing was stored"},
}

// classify turns any error a handler returns into a contract error. Unknown errors become a
// 500 whose message says nothing about the cause.
func classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var he interface {
		HTTPError() (status int, code, message string) // internal/uppy's and internal/tus's errors
	}
	if errors.As(err, &he) {
		status, code, msg := he.HTTPError()
		return &Error{Status: status, Code: code, Message: msg, Err: err}
	}
	var be *proxy.BodyError
	if errors.As(err, &be) && !errors.Is(err, edge.ErrBodyTimeout) { // a body the gateway cut: 408
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "could not read the request body", Err: err}
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return &Error{Status: s.status, Code: s.code, Message: s.message, Err: err}
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
}

// writeError writes e in the contract's flat shape. Headers a failed handler set for a
// success response are dropped; the ones that belong to the error (Content-Range on a 416,
// Allow on a 405, WWW-Authenticate on a 401/403) are kept.
func writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	hdr := w.Header()
	for _, k := range []string{"Content-Length", "Content-Disposition", "ETag", "Last-Modified", "Accept-Ranges", "Content-Encoding"} {
		hdr.Del(k)
		delete(hdr, k) // non-canonical spellings (ETag)
	}
	if e.Status != http.StatusRequestedRangeNotSatisfiable {
		hdr.Del("Content-Range")
	}
	if e.Status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", "1")
	}
	body, _ := json.Marshal(struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}{e.Code, e.Message, r.Header.Get(requestIDHeader)})
	body = append(body, '\n')
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	// The code again as a header: a HEAD answer has no body to carry it, and a 404 may be
	// token_not_found or object_not_found.
	hdr.Set("X-Error-Code", e.Code)
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own response types are passed here
	}
	body = append(body, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
