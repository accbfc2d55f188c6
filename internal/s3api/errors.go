package s3api

import (
	"context"
	"errors"
	"net/http"

	"github.com/assetgateway/assetgateway/internal/edge"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/sigv4"
	"github.com/assetgateway/assetgateway/internal/token"
)

// S3 error codes the listener answers besides sigv4's.
const (
	codeNoSuchKey          = "NoSuchKey"
	codeNoSuchUpload       = "NoSuchUpload"
	codeInvalidRange       = "InvalidRange"
	codeEntityTooLarge     = "EntityTooLarge"
	codePreconditionFailed = "PreconditionFailed"
	codeInvalidPart        = "InvalidPart"
	codeInvalidPartOrder   = "InvalidPartOrder"
	codeEntityTooSmall     = "EntityTooSmall"
	codeMalformedXML       = "MalformedXML"
	codeMissingLength      = "MissingContentLength"
	codeKeyTooLong         = "KeyTooLongError"
	codeRequestTimeout     = "RequestTimeout"
	codeServiceUnavailable = "ServiceUnavailable"
	codeOperationAborted   = "OperationAborted"
	codeNotImplemented     = "NotImplemented"
	codeInvalidArgument    = sigv4.CodeInvalidArgument
	codeInvalidRequest     = sigv4.CodeInvalidRequest
	codeAccessDenied       = sigv4.CodeAccessDenied
	codeBadDigest          = sigv4.CodeBadDigest
	codeInternalError      = sigv4.CodeInternalError
)

var statusOf = map[string]int{
	codeNoSuchKey:          http.StatusNotFound,
	codeNoSuchUpload:       http.StatusNotFound,
	codeInvalidRange:       http.StatusRequestedRangeNotSatisfiable,
	codeEntityTooLarge:     http.StatusBadRequest,
	codePreconditionFailed: http.StatusPreconditionFailed,
	codeInvalidPart:        http.StatusBadRequest,
	codeInvalidPartOrder:   http.StatusBadRequest,
	codeEntityTooSmall:     http.StatusBadRequest,
	codeMalformedXML:       http.StatusBadRequest,
	codeMissingLength:      http.StatusLengthRequired,
	codeKeyTooLong:         http.StatusBadRequest,
	codeRequestTimeout:     http.StatusBadRequest,
	codeServiceUnavailable: http.StatusServiceUnavailable,
	codeOperationAborted:   http.StatusConflict,
	codeNotImplemented:     http.StatusNotImplemented,
	codeInvalidArgument:    http.StatusBadRequest,
	codeInvalidRequest:     http.StatusBadRequest,
	codeAccessDenied:       http.StatusForbidden,
	codeBadDigest:          http.StatusBadRequest,
	codeInternalError:      http.StatusInternalServerError,
}

// newError is a refusal in S3's terms; sigv4.WriteError writes it.
func newError(code, msg string) *sigv4.Error {
	return &sigv4.Error{Code: code, Message: msg, Status: statusOf[code]}
}

func errAccessDenied(msg string) *sigv4.Error { return newError(codeAccessDenied, msg) }

// Refusals of the token, as AccessDenied with a message that says which.
var (
	errRevoked    = errAccessDenied("Access Denied: these credentials' token does not exist (revoked, or gone after its retention)")
	errExpired    = errAccessDenied("Access Denied: these credentials' token has expired")
	errExhausted  = errAccessDenied("Access Denied: these credentials' token has no hits left (max_hits reached)")
	errNotGranted = errAccessDenied("Access Denied: these credentials' token does not grant this operation")
	errOtherKey   = errAccessDenied("Access Denied: these credentials' token grants another bucket or key")
	errAddress    = errAccessDenied("Access Denied: these credentials' token cannot be used from this address")
	errMediaType  = errAccessDenied("Access Denied: this Content-Type is not one these credentials' token allows")
	errNoUpload   = newError(codeNoSuchUpload, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
)

// errClientGone means the client left; nothing is answered.
var errClientGone = proxy.ErrClientGone

// translate turns what the token store, the object store, proxy and the body decoder said
// into S3's terms, once, here. An error left untranslated is answered 500 InternalError and
// logged; the client never sees its text.
func translate(err error) error {
	var se *sigv4.Error
	switch {
	case err == nil, errors.As(err, &se), errors.Is(err, errClientGone):
		return err
	case errors.Is(err, edge.ErrBodyTimeout):
		return newError(codeRequestTimeout, "Your socket connection to the server was not read from or written to within the timeout period.")
	case errors.Is(err, context.Canceled):
		return errClientGone
	}
	for _, m := range errorMap {
		if errors.Is(err, m.err) {
			return m.s3
		}
	}
	var be *proxy.BodyError
	if errors.As(err, &be) {
		return newError(sigv4.CodeIncompleteBody, "The request body could not be read.")
	}
	return err
}

// errorMap is checked in order: the first match answers.
var errorMap = []struct {
	err error
	s3  *sigv4.Error
}{
	{token.ErrUploadNotFound, errNoUpload},
	{token.ErrNotFound, errRevoked},
	{token.ErrExpired, errExpired},
	{token.ErrMethodNotAllowed, errNotGranted},
	{token.ErrHitsExceeded, errExhausted},
	{token.ErrSizeExceeded, newError(codeEntityTooLarge, "Your proposed upload exceeds the maximum allowed size (the token's size limit)")},
	{proxy.ErrForbidden, errAddress},
	{proxy.ErrUnsupportedMediaType, errMediaType},
	{proxy.ErrBadPath, newError(codeInvalidArgument, "This key cannot be served under the token's prefix (empty, '.' or '..' segments, or control characters).")},
	{objstore.ErrObjectNotFound, newError(codeNoSuchKey, "The specified key does not exist.")},
	{objstore.ErrRangeNotSatisfiable, newError(codeInvalidRange, "The requested range is not satisfiable")},
	{objstore.ErrPreconditionFailed, newError(codePreconditionFailed, "At least one of the pre-conditions you specified did not hold")},
	{objstore.ErrChecksumMismatch, newError(codeBadDigest, "The SHA-256 of the content does not match the one the token expects.")},
	{objstore.ErrUploadNotFound, errNoUpload},
	{objstore.ErrInvalidParts, newError(codeInvalidPart, "One or more of the specified parts could not be found, or a part other than the last is smaller than 5 MiB.")},
	{token.ErrUnavailable, newError(codeServiceUnavailable, "Please reduce your request rate.")},
}
