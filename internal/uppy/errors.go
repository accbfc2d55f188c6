package uppy

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// Error is a refusal with an HTTP status, a code and a message for the client. The token's
// own answers (token_not_found, token_expired, hits_exceeded, size_exceeded, forbidden,
// unsupported_media_type, …) are the token store's and the proxy's errors, mapped there.
type Error = upload.Error

func badRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: msg}
}

var (
	errNotDirect       = badRequest("this token's bucket takes no direct uploads (a file bucket, or direct_uploads is off): upload through /object")
	errChecksum        = badRequest("this token expects a SHA-256, which a direct upload cannot be checked against: upload through /object")
	errFormNoOverwrite = badRequest("a form upload cannot refuse to overwrite an object (if_none_match): use the multipart upload " +
		"(Uppy: shouldUseMultipart: true)")
	errPartNumber = badRequest(fmt.Sprintf("the part number must be 1 to %d", objstore.MaxParts))
	errNotYours   = &Error{Status: http.StatusForbidden, Code: "forbidden",
		Message: "no such upload for this token and key (it may have completed or been aborted)"}
	errLocked = &Error{Status: http.StatusLocked, Code: "upload_locked",
		Message: "another request is completing or aborting this upload; try again"}
	// errHead answers a HEAD, which net/http routes to GET handlers: a probe must never
	// spend a hit, start, sign or abort anything.
	errHead = &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "HEAD is not served here"}
)

// upstream is an object-store failure (502 upstream_error), keeping the answers the
// contract names (412).
func upstream(err error) error {
	if errors.Is(err, objstore.ErrPreconditionFailed) {
		return err
	}
	return fmt.Errorf("%w: %w", proxy.ErrUpstream, err)
}
