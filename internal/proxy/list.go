package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// BelowToken reports whether r was routed to /object/{token}/{rest...}: a path below the
// token, even with nothing after the slash.
func BelowToken(r *http.Request) bool {
	return strings.Contains(r.Pattern, "{rest...}")
}

// ErrBadPath means the object path after a prefix token is not acceptable (400).
var ErrBadPath = errors.New("invalid object path")

// Folder is the part of the key space a prefix token serves: whole path segments below its
// prefix. Prefix "pub" serves "pub/x", never "pubsecret".
func Folder(prefix string) string {
	if strings.HasSuffix(prefix, "/") {
		return prefix
	}
	return prefix + "/"
}

// objectKey names the object a request is for: the token's key, or — for a prefix token —
// the path after the token (/object/{token}/{rest...}) in the token's folder. That path must
// be clean: no empty, "." or ".." segments, no encoded slash (%2F: a key's slashes are
// written as slashes), no control characters, and the whole key at most 1024 bytes.
func objectKey(r *http.Request, rec *token.Record) (string, error) {
	rest := r.PathValue("rest")
	if rec.Prefix == "" {
		if BelowToken(r) {
			return "", objstore.ErrObjectNotFound // a key token has nothing below it
		}
		return rec.Key, nil
	}
	if rest == "" {
		return "", objstore.ErrObjectNotFound // a prefix names no object by itself
	}
	if strings.Contains(strings.ToLower(r.URL.EscapedPath()), "%2f") {
		return "", fmt.Errorf("%w: encoded slashes are not allowed", ErrBadPath)
	}
	return KeyUnder(rec.Prefix, rest)
}

// KeyUnder names the object at rest, a path relative to the folder of a prefix token's
// prefix. rest must be clean: valid UTF-8, no empty, "." or ".." segments, no control
// characters, and the whole key at most 1024 bytes; else ErrBadPath.
func KeyUnder(prefix, rest string) (string, error) {
	key := Folder(prefix) + rest
	if len(key) > 1024 || !utf8.ValidString(rest) {
		return "", ErrBadPath
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", ErrBadPath
		}
	}
	for _, c := range rest {
		if unicode.IsControl(c) {
			return "", ErrBadPath
		}
	}
	return key, nil
}

// maxListed caps one listing page.
const maxListed = 1000

// list serves a LIST token: GET /object/{token}?after=KEY&limit=N returns the objects in the
// token's folder, keys relative to it, in key order, one page at a time (HEAD: the same
// page, without the body).
func (h *Handler) list(w http.ResponseWriter, r *http.Request, g *token.Grant, be objstore.Backend) error {
	q := r.URL.Query()
	limit := maxListed
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListed {
			h.Refund(r, g)
			return fmt.Errorf("%w: limit must be 1 to %d", ErrBadPath, maxListed)
		}
		limit = n
	}
	dir := Folder(g.Record.Prefix)
	page, err := be.List(r.Context(), dir, q.Get("after"), limit)
	if err != nil {
		h.Refund(r, g)
		if r.Context().Err() != nil {
			return ErrClientGone
		}
		return upstream(err)
	}
	type entry struct {
		Key          string `json:"key"`
		Size         int64  `json:"size"`
		ETag         string `json:"etag"`
		LastModified string `json:"last_modified"`
	}
	out := struct {
		Objects   []entry `json:"objects"`
		Truncated bool    `json:"truncated"`
		NextAfter string  `json:"next_after,omitempty"`
	}{Objects: make([]entry, 0, len(page.Entries)), Truncated: page.Truncated}
	for _, e := range page.Entries {
		out.Objects = append(out.Objects, entry{Key: strings.TrimPrefix(e.Key, dir), Size: e.Size,
			ETag: e.ETag, LastModified: e.LastModified.UTC().Format(time.RFC3339)})
	}
	if page.Truncated && len(out.Objects) > 0 {
		out.NextAfter = out.Objects[len(out.Objects)-1].Key
	}
	body, _ := json.Marshal(out)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	setSafetyHeaders(hdr)
	method := token.MethodList
	if r.Method == http.MethodHead {
		method = http.MethodHead
	}
	h.Notify(r, method, g, g.Record.Prefix, http.StatusOK, 0, "")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}
