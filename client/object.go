package client

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assetgateway/assetgateway/internal/byterange"
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
	// Redirected is true when the gateway answered with a redirect (a token with Delivery
	// "redirect") and the object came from the bucket's presigned URL: Header is then the
	// object store's answer, and RequestID still the gateway's.
	Redirected bool
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

// ErrBodyNotRewindable is returned by Upload when the gateway redirected the upload to a
// presigned URL (a token with Delivery "redirect") after the transport had already sent some
// of the body, and the body is not an io.Seeker that can be rewound. The token's hit is spent.
// Give Upload an io.ReadSeeker (an *os.File, a *bytes.Reader), or mint the token with
// Delivery "stream".
var ErrBodyNotRewindable = errors.New("assetgateway: the gateway redirected the upload after the body was sent, " +
	"and the body cannot be rewound: give Upload an io.ReadSeeker, or use a token with stream delivery")

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
// Through a token with Delivery "redirect", the gateway answers an upload of known size with
// 307 and a presigned PUT URL that only accepts exactly size bytes of contentType; Upload then
// sends the body there (once; the gateway has spent the token's hit). Thanks to
// Expect: 100-continue the body has normally not been read yet. If it has (the gateway
// answered later than the transport's ExpectContinueTimeout, or a custom Transport has
// none), an io.Seeker body is rewound to where it started; any other body fails with
// ErrBodyNotRewindable. The returned Uploaded then carries the bucket's ETag and size. An
// upload of unknown size (-1) always streams through the gateway.
//
// Errors: ErrTokenNotFound, ErrTokenExpired, ErrMethodNotAllowed (not a PUT token),
// ErrHitsExceeded, ErrSizeExceeded, ErrForbidden (the token is bound to other addresses),
// ErrUnsupportedMediaType (contentType is not one the token allows), ErrChecksumMismatch,
// ErrPreconditionFailed (the token never overwrites, and the object exists), ErrBadRequest
// (the body could not be read), ErrUpstream, ErrStoreUnavailable, ErrBodyNotRewindable; after
// a redirect, an *Error with the object store's status. A failed upload through the gateway
// leaves no object and gives its hit back.
func (c *Client) Upload(ctx context.Context, objectURL string, body io.Reader, size int64, contentType string) (*Uploaded, error) {
	if size < -1 {
		return nil, errors.New("assetgateway: upload size must be -1 (unknown) or a number of bytes")
	}
	u, err := c.resolve(objectURL)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		body = nil
	}
	// Where the body starts, to rewind it should the gateway redirect after reading some.
	seeker, _ := body.(io.Seeker)
	start := int64(-1)
	if seeker != nil {
		if off, err := seeker.Seek(0, io.SeekCurrent); err == nil {
			start = off
		}
	}
	resp, sent, err := c.sendUpload(ctx, u, body, size, contentType)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusTemporaryRedirect {
		gatewayID := resp.Header.Get("X-Request-Id")
		target, err := redirectTarget(http.MethodPut, u, resp)
		if err != nil {
			return nil, err
		}
		if sent != nil {
			if err := sent.released(ctx); err != nil {
				return nil, err
			}
			if sent.n.Load() > 0 {
				if start < 0 {
					return nil, ErrBodyNotRewindable
				}
				if _, err := seeker.Seek(start, io.SeekStart); err != nil {
					return nil, fmt.Errorf("%w: %w", ErrBodyNotRewindable, err)
				}
			}
		}
		resp, _, err = c.sendUpload(ctx, target, body, size, contentType)
		if err != nil {
			return nil, err
		}
		defer drainClose(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return nil, storeError(resp, gatewayID)
		}
		return &Uploaded{ETag: strings.Trim(resp.Header.Get("ETag"), `"`), Size: max(size, 0)}, nil
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

// sendUpload sends one PUT of body to u. sent is the body as the transport saw it (nil for
// an empty body).
func (c *Client) sendUpload(ctx context.Context, u *url.URL, body io.Reader, size int64, contentType string) (*http.Response, *sentBody, error) {
	var (
		rd   io.Reader = http.NoBody
		sent *sentBody
	)
	if body != nil {
		// The caller owns body: the transport must not close it.
		sent = &sentBody{r: body, done: make(chan struct{})}
		rd = sent
	}
	req, err := c.newRequest(ctx, http.MethodPut, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.ContentLength = size
	if body == nil {
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
		return nil, nil, err
	}
	return resp, sent, nil
}

// sentBody is an upload body as one request's transport sees it: it counts the bytes the
// transport read and tells when the transport is done with it, without closing the
// caller's reader.
type sentBody struct {
	r    io.Reader
	n    atomic.Int64
	done chan struct{}
	once sync.Once
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// Close is the transport saying it is done with the body.
func (b *sentBody) Close() error {
	b.once.Do(func() { close(b.done) })
	return nil
}

// releaseWait bounds the wait for a transport to give an upload body back.
const releaseWait = 30 * time.Second

// released waits until the transport is done with the body (it may still be writing it
// when the answer arrives, and closes it when it stops), so the body can be read again.
func (b *sentBody) released(ctx context.Context) error {
	t := time.NewTimer(releaseWait)
	defer t.Stop()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("assetgateway: upload: %w", ctx.Err())
	case <-t.C:
		return errors.New("assetgateway: upload: the HTTP transport did not release the body after the gateway's redirect")
	}
}

// redirectTarget reads the presigned URL of a gateway's 307 and closes the answer. The URL
// is a credential until it expires: it never appears in an error.
func redirectTarget(method string, from *url.URL, resp *http.Response) (*url.URL, error) {
	drainClose(resp.Body)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err == nil {
		loc = from.ResolveReference(loc)
	}
	if err != nil || (loc.Scheme != "http" && loc.Scheme != "https") || loc.Host == "" {
		return nil, fmt.Errorf("assetgateway: %s %s: the gateway redirected to an unusable Location", method, redactURL(from))
	}
	return loc, nil
}

// storeCodes are the object store's error codes that mean what a contract code means, so a
// redirected download or upload fails the way a streamed one would.
var storeCodes = map[string]string{
	"NoSuchKey":          CodeObjectNotFound,
	"InvalidRange":       CodeRangeNotSatisfiable,
	"PreconditionFailed": CodePreconditionFailed,
}

// storeError builds the *Error for an object store's answer to a presigned URL the gateway
// redirected to: S3's own code and message in Message (never the URL, nor S3's echo of the
// request), the contract's code when one means the same, and the gateway's request id.
func storeError(resp *http.Response, gatewayID string) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: gatewayID}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var wire struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	e.Message = "object store (presigned URL from the gateway's redirect): HTTP " + strconv.Itoa(resp.StatusCode)
	if xml.Unmarshal(body, &wire) == nil && wire.Code != "" {
		e.Message += " " + printable([]byte(wire.Code), 64)
		if wire.Message != "" {
			e.Message += ": " + printable([]byte(wire.Message), 200)
		}
		e.Code = storeCodes[wire.Code]
	}
	if e.Code == "" && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		e.Code = CodeRangeNotSatisfiable
	}
	return e
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
// or to learn the size and file name before reading. The caller must close Body.
//
// Through a token with Delivery "redirect" the gateway answers 307 with a presigned URL of
// the bucket; Open (and Download) follow it once, with rng, and the object comes from the
// bucket (ObjectInfo.Redirected). A missing object, an unsatisfiable range or a failed
// precondition there are reported with the same sentinels as through the gateway; any other
// refusal of the store is an *Error with its status and an empty Code.
//
// Errors: as for Download; ErrForbidden when the token is bound to other addresses.
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
	redirected, gatewayID := resp.StatusCode == http.StatusTemporaryRedirect, ""
	if redirected {
		gatewayID = resp.Header.Get("X-Request-Id")
		target, err := redirectTarget(http.MethodGet, u, resp)
		if err != nil {
			return nil, err
		}
		if req, err = c.newRequest(ctx, http.MethodGet, target, nil); err != nil {
			return nil, err
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		if resp, err = c.do(req); err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
			defer drainClose(resp.Body)
			return nil, storeError(resp, gatewayID)
		}
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		defer drainClose(resp.Body)
		return nil, responseError(resp)
	}
	obj := &Object{DownloadInfo: DownloadInfo{ObjectInfo: objectInfo(resp), Status: resp.StatusCode, Length: resp.ContentLength}}
	if redirected {
		obj.Redirected, obj.RequestID = true, gatewayID
	}
	if resp.StatusCode == http.StatusPartialContent {
		cr, ok := byterange.ParseContent(resp.Header.Get("Content-Range"))
		if !ok || cr.First < 0 || cr.Size < 0 {
			drainClose(resp.Body)
			return nil, fmt.Errorf("assetgateway: GET %s: 206 with an invalid Content-Range", redactURL(u))
		}
		obj.Start, obj.Size = cr.First, cr.Size
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

// ListPage is one page of a LIST token's listing.
type ListPage struct {
	// Objects are in byte order of their keys; empty (never nil) when nothing (more) is there.
	Objects []ListEntry `json:"objects"`
	// Truncated is true when more objects follow: pass NextAfter as List's after.
	Truncated bool `json:"truncated"`
	// NextAfter is the last key of this page when Truncated, else "".
	NextAfter string `json:"next_after,omitempty"`
}

// ListEntry is one object of a listing.
type ListEntry struct {
	// Key is relative to the token's prefix: the object's key is prefix + Key, and its URL
	// through a GET prefix token PrefixURL(url, Key).
	Key  string `json:"key"`
	Size int64  `json:"size"`
	// ETag is the entity tag without quotes; "" when the store did not say.
	ETag         string    `json:"etag"`
	LastModified time.Time `json:"last_modified"`
}

// List returns one page of the objects under a LIST token's prefix (GET /object/{token} of a
// LIST token; one hit per page). after is a key relative to the prefix (the page starts after
// it; "" for the first page, then the previous page's NextAfter); limit is 1–1000, or 0 or
// less for the gateway's default (1000).
//
// objectURL must be a LIST token's: the URL of a GET token would spend one of its hits on a
// download, which List then refuses as not a listing. Errors: ErrTokenNotFound,
// ErrTokenExpired, ErrMethodNotAllowed (a HEAD, PUT or DELETE token), ErrHitsExceeded,
// ErrForbidden (the token is bound to other addresses), ErrBadRequest (limit above 1000),
// ErrUpstream, ErrStoreUnavailable.
func (c *Client) List(ctx context.Context, objectURL, after string, limit int) (*ListPage, error) {
	u, err := c.resolve(objectURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	u.RawQuery = q.Encode()
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(resp)
	}
	// A download answers with Accept-Ranges (and its object's own type); a listing never.
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" || resp.Header.Get("Accept-Ranges") != "" {
		return nil, fmt.Errorf("assetgateway: GET %s: the answer is an object, not a listing (not a LIST token's URL)", redactURL(u))
	}
	var page ListPage
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxControlResponse)).Decode(&page); err != nil {
		return nil, fmt.Errorf("assetgateway: GET %s: decoding the listing: %w", redactURL(u), err)
	}
	if page.Objects == nil {
		page.Objects = []ListEntry{}
	}
	return &page, nil
}

// PrefixURL returns the URL of an object under a prefix token: tokenURL (the url CreateToken
// returned) followed by key, the part of the object's key after the token's prefix (a
// ListEntry.Key). Each segment of key is escaped; its slashes stay slashes, as the gateway
// wants them.
func PrefixURL(tokenURL, key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.TrimRight(tokenURL, "/") + "/" + strings.Join(segs, "/")
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
