package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ObjectInfo describes an object as /object/{token} presents it.
type ObjectInfo struct {
	// ContentType is the stored media type.
	ContentType string
	// Size is the whole object's length in bytes (also for a 206), or -1 when unknown.
	Size int64
	// ETag is the entity tag without quotes.
	ETag string
	// LastModified is when the object was written; zero when the gateway did not say.
	LastModified time.Time
	// Filename is the name the token offers (Content-Disposition: filename*, else filename);
	// "" when the token has none. It comes from the network: sanitize it before using it as a
	// path.
	Filename string
	// RequestID is the gateway's X-Request-Id.
	RequestID string
	// Header holds every response header.
	Header http.Header
}

// DownloadInfo describes a download.
type DownloadInfo struct {
	ObjectInfo
	// Status is 200 (the whole object) or 206 (a range).
	Status int
	// Start is the offset of the first byte received (0 for a 200).
	Start int64
	// Length is the number of bytes of the body: the announced Content-Length for Open, the
	// bytes written for Download.
	Length int64
}

// Object is an open download: read Body, then close it.
type Object struct {
	DownloadInfo
	// Body yields exactly Length bytes; a body cut short ends with io.ErrUnexpectedEOF.
	Body io.ReadCloser
}

// Uploaded is the answer to a successful upload.
type Uploaded struct {
	// ETag is the stored object's entity tag, without quotes (the MD5 hex of the content for
	// single-part uploads).
	ETag string `json:"etag"`
	// Size is the number of bytes stored.
	Size int64 `json:"size"`
}

// Upload sends body as the object of a PUT token (PUT /object/{token}). objectURL is the url
// CreateToken returned (or a path such as "/object/<token>", resolved against the gateway).
// size is body's exact length, or -1 when unknown: the body is then sent chunked, and the
// gateway counts its size while streaming. contentType "" lets the gateway store
// application/octet-stream. body is read to its end (or until the gateway answers) and never
// closed.
//
// The request carries "Expect: 100-continue": the gateway checks the token (and a declared
// size) before a byte of the body is sent, so a refused upload does not consume body.
//
// Errors: ErrTokenNotFound, ErrTokenExpired, ErrMethodNotAllowed (not a PUT token),
// ErrHitsExceeded, ErrSizeExceeded, ErrBadRequest (the body could not be read), ErrUpstream,
// ErrStoreUnavailable. A failed upload leaves no object and gives its hit back.
func (c *Client) Upload(ctx context.Context, objectURL string, body io.Reader, size int64, contentType string) (*Uploaded, error) {
	if size < -1 {
		return nil, errors.New("assetgateway: upload size must be -1 (unknown) or a number of bytes")
	}
	u, err := c.resolve(objectURL)
	if err != nil {
		return nil, err
	}
	var rd io.Reader = http.NoBody
	if size != 0 && body != nil {
		rd = io.NopCloser(body) // the caller owns body: the transport must not close it
	}
	req, err := c.newRequest(ctx, http.MethodPut, u, rd)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	if size == 0 || body == nil {
		req.ContentLength = 0
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if req.ContentLength != 0 {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(resp)
	}
	var out Uploaded
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("assetgateway: PUT %s: decoding the answer: %w", redactURL(u), err)
	}
	return &out, nil
}

// Download writes the object of a GET token to w (GET /object/{token}) and consumes one hit.
// rng is a Range header value ("bytes=0-99", "bytes=100-", "bytes=-500"; the "bytes=" prefix
// may be left out), or "" for the whole object. The gateway honours one range (206) and
// answers 200 with the whole object for anything else. The returned info is filled in as far
// as the download got, also on errors.
//
// Errors: ErrTokenNotFound, ErrTokenExpired, ErrMethodNotAllowed, ErrHitsExceeded,
// ErrObjectNotFound, ErrRangeNotSatisfiable, ErrUpstream, ErrStoreUnavailable; a failed write
// to w, or a body cut short (io.ErrUnexpectedEOF), is returned wrapped.
func (c *Client) Download(ctx context.Context, objectURL string, w io.Writer, rng string) (*DownloadInfo, error) {
	obj, err := c.Open(ctx, objectURL, rng)
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	info := obj.DownloadInfo
	n, err := io.Copy(w, obj.Body)
	info.Length = n
	if err != nil {
		return &info, fmt.Errorf("assetgateway: download: %w", err)
	}
	return &info, nil
}

// Open starts a download (GET /object/{token}, one hit) and returns the body unread, with the
// object's headers: use it to stream the object somewhere Download's io.Writer does not fit,
// or to learn the size and file name before reading. The caller must close Body. Errors: as
// for Download.
func (c *Client) Open(ctx context.Context, objectURL, rng string) (*Object, error) {
	u, err := c.resolve(objectURL)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if rng != "" {
		if !strings.Contains(rng, "=") {
			rng = "bytes=" + rng
		}
		req.Header.Set("Range", rng)
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		defer drainClose(resp.Body)
		return nil, responseError(resp)
	}
	obj := &Object{DownloadInfo: DownloadInfo{ObjectInfo: objectInfo(resp), Status: resp.StatusCode, Length: resp.ContentLength}}
	if resp.StatusCode == http.StatusPartialContent {
		start, _, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			drainClose(resp.Body)
			return nil, fmt.Errorf("assetgateway: GET %s: 206 with an invalid Content-Range", redactURL(u))
		}
		obj.Start, obj.Size = start, total
	}
	obj.Body = &exactBody{rc: resp.Body, left: resp.ContentLength}
	return obj, nil
}

// Head returns the object's headers without a body (HEAD /object/{token}); it never consumes
// a hit. On a PUT token it tells whether the upload has landed.
//
// A HEAD answer has no body, so an error carries the status and the code it implies; a 404
// has Code "" (the token or the object is missing; Status tells a PUT token's caller which).
// Errors: ErrTokenExpired, ErrMethodNotAllowed, ErrUpstream, ErrStoreUnavailable, and *Error
// with Status 404.
func (c *Client) Head(ctx context.Context, objectURL string) (*ObjectInfo, error) {
	u, err := c.resolve(objectURL)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, http.MethodHead, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(resp)
	}
	info := objectInfo(resp)
	return &info, nil
}

// Delete removes the object through a DELETE token URL. Like S3, it succeeds whether or not
// the object existed.
func (c *Client) Delete(ctx context.Context, objectURL string) error {
	u, err := c.resolve(objectURL)
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return responseError(resp)
	}
	return nil
}

// objectInfo reads the object headers of a GET or HEAD answer.
func objectInfo(resp *http.Response) ObjectInfo {
	h := resp.Header
	info := ObjectInfo{
		ContentType: h.Get("Content-Type"),
		Size:        resp.ContentLength,
		ETag:        strings.Trim(strings.TrimPrefix(h.Get("ETag"), "W/"), `"`),
		RequestID:   h.Get("X-Request-Id"),
		Header:      h,
	}
	if resp.Request != nil && resp.Request.Method == http.MethodHead {
		// A HEAD response's ContentLength is the object's, when the server sent it.
		if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil {
			info.Size = n
		}
	}
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		info.LastModified = t
	}
	if cd := h.Get("Content-Disposition"); cd != "" {
		// mime decodes RFC 2231/5987 filename* and prefers it to the ASCII fallback.
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			info.Filename = params["filename"]
		}
	}
	return info
}

// parseContentRange parses "bytes first-last/total".
func parseContentRange(s string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	span, size, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(size, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || last >= total {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

// exactBody turns a body that ends before its announced length into io.ErrUnexpectedEOF
// (the gateway cuts the connection when the object store fails mid-body).
type exactBody struct {
	rc   io.ReadCloser
	left int64 // -1: unknown length
}

func (b *exactBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.left >= 0 {
		b.left -= int64(n)
		if err == io.EOF && b.left > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return n, err
}

func (b *exactBody) Close() error { return b.rc.Close() }
