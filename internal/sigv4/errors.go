package sigv4

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
)

// Error is a refusal in S3's terms: the code and status S3 answers in the same case, and a
// message safe to show the client (it never contains a secret or a signature we computed).
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

// ErrUnknownAccessKey is what a Secret function returns (or wraps) for an access key ID it does
// not know; Verify then answers InvalidAccessKeyId.
var ErrUnknownAccessKey = errors.New("sigv4: unknown access key id")

// S3 error codes. This package returns all but MissingSecurityHeader, which is there for the
// listener (S3 answers it when a required x-amz-* header is missing).
const (
	CodeAccessDenied          = "AccessDenied"
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	CodeInvalidAccessKeyID    = "InvalidAccessKeyId"
	CodeRequestTimeTooSkewed  = "RequestTimeTooSkewed"
	CodeHeaderMalformed       = "AuthorizationHeaderMalformed"
	CodeQueryParametersError  = "AuthorizationQueryParametersError"
	CodeMissingSecurityHeader = "MissingSecurityHeader"
	CodeContentSHA256Mismatch = "XAmzContentSHA256Mismatch"
	CodeBadDigest             = "BadDigest"
	CodeInvalidDigest         = "InvalidDigest"
	CodeInvalidRequest        = "InvalidRequest"
	CodeInvalidArgument       = "InvalidArgument"
	CodeIncompleteBody        = "IncompleteBody"
	CodeMalformedTrailer      = "MalformedTrailerError"
	CodeInvalidChunkSize      = "InvalidChunkSizeError"
	CodeInternalError         = "InternalError"
)

// statusOf is the HTTP status S3 answers with each code.
var statusOf = map[string]int{
	CodeAccessDenied:          http.StatusForbidden,
	CodeSignatureDoesNotMatch: http.StatusForbidden,
	CodeInvalidAccessKeyID:    http.StatusForbidden,
	CodeRequestTimeTooSkewed:  http.StatusForbidden,
	CodeHeaderMalformed:       http.StatusBadRequest,
	CodeQueryParametersError:  http.StatusBadRequest,
	CodeMissingSecurityHeader: http.StatusBadRequest,
	CodeContentSHA256Mismatch: http.StatusBadRequest,
	CodeBadDigest:             http.StatusBadRequest,
	CodeInvalidDigest:         http.StatusBadRequest,
	CodeInvalidRequest:        http.StatusBadRequest,
	CodeInvalidArgument:       http.StatusBadRequest,
	CodeIncompleteBody:        http.StatusBadRequest,
	CodeMalformedTrailer:      http.StatusBadRequest,
	CodeInvalidChunkSize:      http.StatusBadRequest,
	CodeInternalError:         http.StatusInternalServerError,
}

func newError(code, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: statusOf[code]}
}

func errSignature() *Error {
	return newError(CodeSignatureDoesNotMatch,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
}

func errIncomplete(msg string) *Error { return newError(CodeIncompleteBody, msg) }

// errorDoc is S3's error document.
type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

// WriteError answers r with S3's XML error document for err: an *Error as it is, anything else
// as a 500 InternalError whose message says nothing about the cause (log err yourself). The
// document's Resource is r.URL.Path; a HEAD answer has no body, as with S3. It sets
// Content-Type, Content-Length and x-amz-request-id (when requestID is not empty).
func WriteError(w http.ResponseWriter, r *http.Request, err error, requestID string) {
	var e *Error
	if !errors.As(err, &e) {
		e = newError(CodeInternalError, "We encountered an internal error. Please try again.")
	}
	body, mErr := xml.Marshal(errorDoc{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: requestID})
	if mErr != nil {
		panic(mErr) // a struct of strings always marshals
	}
	body = append([]byte(xml.Header), body...)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if requestID != "" {
		h.Set("X-Amz-Request-Id", requestID)
	}
	status := e.Status
	if status == 0 {
		status = statusOf[e.Code]
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
