package s3api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/token"
)

// bucketOp serves ListBuckets (the token's one alias), HeadBucket and GetBucketLocation of
// the token's alias. None costs a hit or reads an object; each needs a live token.
func (h *Handler) bucketOp(c *call) error {
	rec, err := h.record(c)
	if err != nil {
		return err
	}
	if c.op.kind == opListBuckets {
		return writeXML(c.w, http.StatusOK, listAllMyBucketsResult{
			Owner:   owner{ID: "assetgateway", DisplayName: "assetgateway"},
			Buckets: []bucketInfo{{Name: rec.Bucket, CreationDate: formatTime(time.Time{}), BucketRegion: h.region}},
		})
	}
	if c.op.bucket != rec.Bucket {
		return errOtherKey
	}
	c.w.Header().Set("X-Amz-Bucket-Region", h.region)
	if c.op.kind == opHeadBucket {
		c.w.WriteHeader(http.StatusOK)
		return nil
	}
	region := h.region
	if region == "us-east-1" {
		region = "" // S3 names its first region by an empty constraint
	}
	return writeXML(c.w, http.StatusOK, locationConstraint{Region: region})
}

// maxKeys is the most entries one ListObjectsV2 page holds (S3's limit too).
const maxKeys = 1000

// listQuery is a ListObjectsV2 request's parameters.
type listQuery struct {
	prefix, delimiter string
	max               int
	token, startAfter string // as sent
	after             string // the key to list after, "" for the start
	skip              string // a common prefix the previous page ended on: its keys are done
	urlEncoding       bool
}

func parseListQuery(q url.Values) (listQuery, error) {
	l := listQuery{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), max: maxKeys,
		token: q.Get("continuation-token"), startAfter: q.Get("start-after")}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return l, newError(codeInvalidArgument, "Provided max-keys not an integer or within integer range")
		}
		l.max = min(n, maxKeys)
	}
	switch q.Get("encoding-type") {
	case "":
	case "url":
		l.urlEncoding = true
	default:
		return l, newError(codeInvalidArgument, "Invalid Encoding Method specified in Request")
	}
	l.after = l.startAfter
	if l.token != "" {
		b, err := base64.RawURLEncoding.DecodeString(l.token)
		if err != nil || len(b) == 0 || b[0] != 'k' && b[0] != 'p' {
			return l, newError(codeInvalidArgument, "The continuation token provided is incorrect")
		}
		l.after = string(b[1:])
		if b[0] == 'p' {
			l.skip, l.after = l.after, l.after+maxRune
		}
	}
	return l, nil
}

// maxRune sorts after every key that starts with what it is appended to, but for keys that
// continue with it: UTF-8 keys have no greater character (skip catches those few).
const maxRune = "\U0010FFFF"

// listObjects serves ListObjectsV2 for a LIST token: one hit per page, keys in its prefix's
// folder only. A client prefix shorter than the folder ("", or "pub" for "pub/") lists the
// folder; one inside it lists less; one beside it is refused.
func (h *Handler) listObjects(c *call) error {
	l, err := parseListQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	g, err := h.store.AccessID(c.r.Context(), c.tokenID, token.Request{Method: token.MethodList, ContentLength: -1,
		S3: c.nonce, Admit: proxy.Admit(c.r, token.MethodList, h.clientIP, h.now)})
	switch {
	case err != nil && c.r.Context().Err() != nil:
		return errClientGone
	case errors.Is(err, token.ErrMethodNotAllowed):
		return h.listOwnKey(c, l)
	case err != nil:
		return err
	}
	rec := &g.Record
	folder := proxy.Folder(rec.Prefix)
	base := ""
	switch {
	case c.op.bucket != rec.Bucket:
	case strings.HasPrefix(folder, l.prefix):
		base = folder
	case strings.HasPrefix(l.prefix, folder):
		base = l.prefix
	}
	be := h.buckets[rec.Bucket]
	if base == "" || be == nil {
		h.objects.Refund(c.r, g)
		return errOtherKey
	}
	page, err := walk(c.r.Context(), be, base, l)
	if err != nil {
		h.objects.Refund(c.r, g)
		return err
	}
	h.objects.Notify(c.r, token.MethodList, g, rec.Prefix, http.StatusOK, 0, "")
	return writeXML(c.w, http.StatusOK, page.result(c.op.bucket, l))
}

// listOwnKey serves ListObjectsV2 for a key token (any method): a listing of its one key,
// when the prefix asked for leads to it, as HeadObject sees it — free, as HEAD is. Some
// clients list before they look (`mc stat` lists the key as a prefix, to tell a folder).
func (h *Handler) listOwnKey(c *call, l listQuery) error {
	r := c.r
	g, err := h.store.AccessID(r.Context(), c.tokenID, token.Request{Method: token.MethodHead, ContentLength: -1,
		S3: c.nonce, Admit: proxy.Admit(r, token.MethodHead, h.clientIP, h.now)})
	switch {
	case err != nil && r.Context().Err() != nil:
		return errClientGone
	case err != nil:
		return err
	case g.Record.Prefix != "":
		return errNotGranted // a GET prefix token: LIST tokens list
	case c.op.bucket != g.Record.Bucket || !strings.HasPrefix(g.Record.Key, l.prefix):
		return errOtherKey
	}
	key := g.Record.Key
	be := h.buckets[g.Record.Bucket]
	if be == nil {
		return fmt.Errorf("s3api: bucket alias %q is not configured", g.Record.Bucket)
	}
	info, err := be.Head(r.Context(), key, objstore.Conditions{})
	var page listing
	switch {
	case errors.Is(err, objstore.ErrObjectNotFound):
	case err != nil:
		return err
	case l.max == 0 || key <= l.after || l.skip != "" && strings.HasPrefix(key, l.skip):
	case l.delimiter != "" && strings.Contains(key[len(l.prefix):], l.delimiter):
		i := strings.Index(key[len(l.prefix):], l.delimiter)
		page.prefixes = []string{key[:len(l.prefix)+i+len(l.delimiter)]}
	default:
		page.contents = []objstore.ListEntry{{Key: key, Size: info.Size, ETag: info.ETag, LastModified: info.LastModified}}
	}
	h.objects.Notify(r, token.MethodHead, g, key, http.StatusOK, info.Size, info.ETag)
	return writeXML(c.w, http.StatusOK, page.result(c.op.bucket, l))
}

// listing is one page of ListObjectsV2.
type listing struct {
	contents  []objstore.ListEntry
	prefixes  []string
	truncated bool
	next      string // the continuation token, when truncated
}

// walk lists the keys under base (every one also under l.prefix) after l.after, folding
// those that hold l.delimiter past l.prefix into common prefixes, until l.max entries and
// the certainty of a next one. A common prefix costs one store call at most: the listing
// jumps past its keys.
func walk(ctx context.Context, be objstore.Backend, base string, l listQuery) (listing, error) {
	var out listing
	rel := ""
	switch {
	case l.after == "" || l.after < base:
	case strings.HasPrefix(l.after, base):
		rel = l.after[len(base):]
	default:
		return out, nil // past every key under base
	}
	last := l.skip // the common prefix being folded; its keys are skipped
	for l.max > 0 {
		page, err := be.List(ctx, base, rel, maxKeys)
		if err != nil {
			return out, err
		}
		for _, e := range page.Entries {
			cp := ""
			if l.delimiter != "" {
				if i := strings.Index(e.Key[len(l.prefix):], l.delimiter); i >= 0 {
					cp = e.Key[:len(l.prefix)+i+len(l.delimiter)]
				}
			}
			if last != "" && strings.HasPrefix(e.Key, last) || e.Key <= l.after {
				continue // folded into the common prefix already listed, or listed before
			}
			if len(out.contents)+len(out.prefixes) == l.max {
				out.truncated = true
				return out, nil
			}
			if cp != "" {
				out.prefixes, last = append(out.prefixes, cp), cp
				out.next = "p" + cp
				continue
			}
			out.contents, last = append(out.contents, e), ""
			out.next = "k" + e.Key
		}
		switch {
		case !page.Truncated || len(page.Entries) == 0:
			return out, nil
		case last != "" && strings.HasPrefix(base, last):
			return out, nil // every key left folds into that one prefix
		}
		// On after the page's last key, or past the keys of the prefix being folded when
		// that is further (the store's pages always move forward, so this does too).
		rel = page.Entries[len(page.Entries)-1].Key[len(base):]
		if last != "" {
			rel = max(rel, (last + maxRune)[len(base):])
		}
		if rel == "" {
			rel = "\x00" // the page ended on base itself (a folder marker): "after" it
		}
	}
	return out, nil
}

// result renders the page as S3 does, keys and prefixes URL-encoded when asked.
func (p listing) result(bucket string, l listQuery) listBucketResult {
	enc := func(s string) string { return s }
	if l.urlEncoding {
		enc = urlEncode
	}
	res := listBucketResult{
		Name: bucket, Prefix: enc(l.prefix), Delimiter: enc(l.delimiter), MaxKeys: l.max,
		KeyCount: len(p.contents) + len(p.prefixes), IsTruncated: p.truncated,
		ContinuationToken: l.token, StartAfter: enc(l.startAfter),
	}
	if l.urlEncoding {
		res.EncodingType = "url"
	}
	if p.truncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(p.next))
	}
	for _, e := range p.contents {
		res.Contents = append(res.Contents, object{Key: enc(e.Key), LastModified: formatTime(e.LastModified),
			ETag: `"` + e.ETag + `"`, Size: e.Size, StorageClass: "STANDARD"})
	}
	for _, cp := range p.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
	}
	return res
}

// urlEncode escapes every byte but A-Za-z0-9 - _ . ~ and '/', as S3 does with
// encoding-type=url; a space is %20, which every client's decoder reads.
func urlEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
