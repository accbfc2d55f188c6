package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes of the contract, as found in Error.Code.
const (
	CodeBadRequest           = "bad_request"            // 400
	CodeUnauthorized         = "unauthorized"           // 401
	CodeForbidden            = "forbidden"              // 403
	CodeTokenNotFound        = "token_not_found"        // 404
	CodeObjectNotFound       = "object_not_found"       // 404
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeTokenExists          = "token_exists"           // 409
	CodeHitsExceeded         = "hits_exceeded"          // 409
	CodeRequestTimeout       = "request_timeout"        // 408
	CodeTokenExpired         = "token_expired"          // 410
	CodeSizeExceeded         = "size_exceeded"          // 413
	CodeRequestTooLarge      = "request_too_large"      // 413
	CodePreconditionFailed   = "precondition_failed"    // 412
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeChecksumMismatch     = "checksum_mismatch"      // 400
	CodeRangeNotSatisfiable  = "range_not_satisfiable"  // 416
	CodeTooManyRequests      = "too_many_requests"      // 429
	CodeInternal             = "internal_error"         // 500
	CodeUpstream             = "upstream_error"         // 502
	CodeStoreUnavailable     = "store_unavailable"      // 503
	CodeTooManyConnections   = "too_many_connections"   // 503, before the request is read: the connection caps
)

// Error is an answer of the gateway that is not the expected success. Compare it with the
// sentinels below through errors.Is, which matches on Code:
//
//	var e *client.Error
//	if errors.As(err, &e) { log.Println(e.Status, e.Code, e.RequestID) }
//	if errors.Is(err, client.ErrTokenExpired) { … }
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the contract's error code (the Code… constants). It is "" when the answer did
	// not carry one: a proxy in front of the gateway answered, or the request was a HEAD (no
	// body) whose status maps to several codes (404: token_not_found or object_not_found).
	Code string
	// Message is the gateway's human-readable explanation (for 400, every invalid field).
	Message string
	// RequestID is the gateway's X-Request-Id for this request: quote it when asking for help.
	RequestID string
	// RetryAfter is the delay the gateway asked for with Retry-After (503, 429); 0 when none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("assetgateway: ")
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Code != "" && e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.RequestID != "" {
			b.WriteString(", request id ")
			b.WriteString(e.RequestID)
		}
		b.WriteString(")")
	} else if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// Is reports whether target is an *Error with the same, non-empty Code; it makes
// errors.Is(err, client.ErrHitsExceeded) work.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// Sentinels, one per contract code, for errors.Is. Their Status is the code's HTTP status.
var (
	ErrBadRequest         = &Error{Status: http.StatusBadRequest, Code: CodeBadRequest}
	ErrUnauthorized       = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized}
	ErrForbidden          = &Error{Status: http.StatusForbidden, Code: CodeForbidden}
	ErrTokenNotFound      = &Error{Status: http.StatusNotFound, Code: CodeTokenNotFound}
	ErrObjectNotFound     = &Error{Status: http.StatusNotFound, Code: CodeObjectNotFound}
	ErrNotFound           = &Error{Status: http.StatusNotFound, Code: CodeNotFound}
	ErrMethodNotAllowed   = &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed}
	ErrTokenExists        = &Error{Status: http.StatusConflict, Code: CodeTokenExists}
	ErrHitsExceeded       = &Error{Status: http.StatusConflict, Code: CodeHitsExceeded}
	ErrTokenExpired       = &Error{Status: http.StatusGone, Code: CodeTokenExpired}
	ErrSizeExceeded       = &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeSizeExceeded}
	ErrRequestTooLarge    = &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeRequestTooLarge}
	ErrPreconditionFailed = &Error{Status: http.StatusPreconditionFailed, Code: CodePreconditionFailed}
	ErrRequestTimeout     = &Error{Status: http.StatusRequestTimeout, Code: CodeRequestTimeout}
	// ErrUnsupportedMediaType: the upload's Content-Type is not one of the token's
	// ContentTypes.
	ErrUnsupportedMediaType = &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType}
	// ErrChecksumMismatch: the upload does not match the token's SHA256; nothing was stored.
	ErrChecksumMismatch    = &Error{Status: http.StatusBadRequest, Code: CodeChecksumMismatch}
	ErrRangeNotSatisfiable = &Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: CodeRangeNotSatisfiable}
	ErrTooManyRequests     = &Error{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests}
	ErrInternal            = &Error{Status: http.StatusInternalServerError, Code: CodeInternal}
	ErrUpstream            = &Error{Status: http.StatusBadGateway, Code: CodeUpstream}
	ErrStoreUnavailable    = &Error{Status: http.StatusServiceUnavailable, Code: CodeStoreUnavailable}
	ErrTooManyConnections  = &Error{Status: http.StatusServiceUnavailable, Code: CodeTooManyConnections}
)

// headCodes are the codes a body-less HEAD answer implies, for the statuses that have one
// code on /object. 404 is absent: it is token_not_found or object_not_found.
var headCodes = map[int]string{
	http.StatusBadRequest:                   CodeBadRequest,
	http.StatusUnauthorized:                 CodeUnauthorized,
	http.StatusForbidden:                    CodeForbidden,
	http.StatusMethodNotAllowed:             CodeMethodNotAllowed,
	http.StatusGone:                         CodeTokenExpired,
	http.StatusPreconditionFailed:           CodePreconditionFailed,
	http.StatusRequestedRangeNotSatisfiable: CodeRangeNotSatisfiable,
	http.StatusTooManyRequests:              CodeTooManyRequests,
	http.StatusInternalServerError:          CodeInternal,
	http.StatusBadGateway:                   CodeUpstream,
	http.StatusServiceUnavailable:           CodeStoreUnavailable,
}

// responseError builds the *Error for an unexpected answer. It reads (at most 64 KiB of) the
// body but does not close it.
func responseError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if s := resp.Header.Get("Retry-After"); s != "" {
		e.RetryAfter = parseRetryAfter(s, time.Now())
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var wire struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(body, &wire) == nil && wire.Code != "" {
		e.Code, e.Message = wire.Code, wire.Message
		if wire.RequestID != "" {
			e.RequestID = wire.RequestID
		}
		return e
	}
	if code := resp.Header.Get("X-Error-Code"); code != "" {
		// The gateway repeats the code in a header: a HEAD answer has no body.
		e.Code, e.Message = code, http.StatusText(resp.StatusCode)
		return e
	}
	if resp.Request != nil && resp.Request.Method == http.MethodHead {
		e.Code = headCodes[resp.StatusCode]
		e.Message = http.StatusText(resp.StatusCode)
		if resp.StatusCode == http.StatusNotFound {
			e.Message = "token or object not found (a HEAD answer has no body to tell which)"
		}
		return e
	}
	e.Message = http.StatusText(resp.StatusCode)
	if text := printable(body, 200); text != "" {
		e.Message += ": " + text
	}
	return e
}

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date.
func parseRetryAfter(s string, now time.Time) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(s); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// printable returns the start of a non-JSON error body (a proxy's or Go's plain-text
// answer) as one line of printable text, at most max bytes.
func printable(b []byte, max int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return -1
		}
		return r
	}, s)
}
