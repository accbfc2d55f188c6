package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/assetgateway/assetgateway/internal/sigv4"

	"github.com/assetgateway/assetgateway/internal/token"
)

// The single-request object operations: admitted here, served by /object's own accesses.

// getObject serves GetObject (Range, conditional headers): one hit, handed back when nothing
// was delivered.
func (h *Handler) getObject(c *call) error {
	g, be, key, err := h.grant(c, token.MethodGet, -1)
	if err != nil {
		return err
	}
	return h.objects.ServeGet(c.w, c.r, g, be, key)
}

// headObject serves HeadObject, for any token on its key or prefix: no hit.
func (h *Handler) headObject(c *call) error {
	g, be, key, err := h.grant(c, token.MethodHead, -1)
	if err != nil {
		return err
	}
	return h.objects.ServeHead(c.w, c.r, g, be, key)
}

// putObject serves PutObject: one hit; the body is decoded and verified as it streams to the
// bucket (sigv4 holds its last byte back until every signature and checksum held), so a body
// that fails a check is never stored. The decoded length is the object's.
func (h *Handler) putObject(c *call) error {
	size := c.auth.DecodedLength
	ifNoneMatch, err := conditionalWrite(c.r)
	if err != nil {
		return err
	}
	g, be, _, err := h.grant(c, token.MethodPut, size)
	if err != nil {
		return err
	}
	g.Record.IfNoneMatch = g.Record.IfNoneMatch || ifNoneMatch // the grant's copy: this upload's rule
	res, err := h.objects.ServePut(c.r, g, be, c.objectBody(), size)
	if err != nil {
		return err
	}
	c.w.Header()["ETag"] = []string{`"` + res.ETag + `"`}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteObject serves DeleteObject: one hit; a missing key is no error, as with S3.
func (h *Handler) deleteObject(c *call) error {
	g, be, key, err := h.grant(c, token.MethodDelete, -1)
	if err != nil {
		return err
	}
	if err := h.objects.ServeDelete(c.r, g, be, key); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxDeleteKeys and maxDeleteBody bound DeleteObjects, as S3 does.
const (
	maxDeleteKeys = 1000
	maxDeleteBody = 2 << 20
)

// deleteObjects serves DeleteObjects (mc rm sends it for a single key): each key is a
// DeleteObject of its own — its own hit, its own refusal in the answer.
func (h *Handler) deleteObjects(c *call) error {
	body, err := readBody(c, maxDeleteBody)
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Objects) == 0 || len(req.Objects) > maxDeleteKeys {
		return newError(codeMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	var res deleteResult
	for _, o := range req.Objects {
		one := *c
		one.op = op{kind: opDeleteObject, bucket: c.op.bucket, key: o.Key}
		var err error = errAccessDenied("Access Denied: versions are not served here")
		if o.VersionID == "" {
			err = h.deleteOne(&one)
		}
		switch e := translate(err); {
		case e == nil && !req.Quiet:
			res.Deleted = append(res.Deleted, deletedKey{Key: o.Key})
		case errors.Is(e, errClientGone):
			return e
		case e != nil:
			code, msg := sigv4.CodeInternalError, "We encountered an internal error. Please try again."
			var se *sigv4.Error
			if errors.As(e, &se) {
				code, msg = se.Code, se.Message
			} else {
				h.log.Warn("s3_delete_failed", "request_id", c.reqID, "error", e)
			}
			res.Errors = append(res.Errors, deleteError{Key: o.Key, Code: code, Message: msg})
		}
	}
	return writeXML(c.w, http.StatusOK, res)
}

// deleteOne is one key of DeleteObjects.
func (h *Handler) deleteOne(c *call) error {
	if len(c.op.key) > maxKeyBytes || c.op.key == "" {
		return newError(codeKeyTooLong, "Your key is too long")
	}
	g, be, key, err := h.grant(c, token.MethodDelete, -1)
	if err != nil {
		return err
	}
	return h.objects.ServeDelete(c.r, g, be, key)
}

// conditionalWrite reads a write's preconditions: "If-None-Match: *" (create, never
// overwrite) is honoured, as the token's if_none_match is; If-Match is not served.
func conditionalWrite(r *http.Request) (ifNoneMatch bool, err error) {
	if r.Header.Get("If-Match") != "" {
		return false, newError(codeNotImplemented, "A header you provided implies functionality that is not implemented: If-Match")
	}
	switch v := r.Header.Get("If-None-Match"); v {
	case "":
		return false, nil
	case "*":
		return true, nil
	}
	return false, newError(codeNotImplemented, "A header you provided implies functionality that is not implemented: If-None-Match other than *")
}
