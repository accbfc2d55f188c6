package tus

import (
	"net/http"

	"github.com/assetgateway/assetgateway/internal/upload"
)

// Error is a refusal with an HTTP status (tus's own where the protocol names one), a code
// and a message for the client.
type Error = upload.Error

// StatusChecksumMismatch is tus's answer to a body that does not match its Upload-Checksum.
const StatusChecksumMismatch = 460

// Answers the protocol defines. (The token's own answers — token_not_found, token_expired,
// method_not_allowed, hits_exceeded, size_exceeded, … — come from the token store's errors.)
var (
	errUnsupportedVersion = &Error{Status: http.StatusPreconditionFailed, Code: "unsupported_version",
		Message: "this server speaks tus " + Version + " only (Tus-Resumable: " + Version + ")"}
	errUploadNotFound = &Error{Status: http.StatusNotFound, Code: "upload_not_found", Message: "upload not found"}
	errUploadExpired  = &Error{Status: http.StatusGone, Code: "upload_expired", Message: "the upload has expired"}
	errOffsetMismatch = &Error{Status: http.StatusConflict, Code: "offset_mismatch",
		Message: "Upload-Offset is not the upload's offset (ask with HEAD)"}
	errLocked = &Error{Status: http.StatusLocked, Code: "upload_locked",
		Message: "another request is writing to this upload; try again"}
	errChecksum = &Error{Status: StatusChecksumMismatch, Code: "checksum_mismatch",
		Message: "the body does not match Upload-Checksum; nothing of it was kept"}
	errPatchType = &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: "an upload body must be sent as " + offsetType}
	errObjectChecksum = &Error{Status: http.StatusBadRequest, Code: "checksum_mismatch",
		Message: "the upload does not match the SHA-256 this token expects; nothing was stored"}
	errTypeNotAllowed = &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: "this token does not allow uploads of this type"}
)

func badRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: msg}
}

// upstream is an object-store failure (502).
func upstream(err error) *Error {
	return &Error{Status: http.StatusBadGateway, Code: "upstream_error", Message: "object store request failed", Err: err}
}
