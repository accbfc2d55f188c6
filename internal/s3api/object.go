package s3api

import (
	"net/http"

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
	g, be, _, err := h.grant(c, token.MethodPut, size)
	if err != nil {
		return err
	}
	res, err := h.objects.ServePut(c.r, g, be, c.auth.Body(c.r.Body), size)
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
