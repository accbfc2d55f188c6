package tus

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What the gateway speaks of tus 1.0 (https://tus.io/protocols/resumable-upload).
const (
	// Version is the one protocol version served (Tus-Resumable, Tus-Version).
	Version = "1.0.0"
	// Extensions are the extensions served (Tus-Extension).
	Extensions = "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum"
	// ChecksumAlgorithms are the Upload-Checksum algorithms accepted (Tus-Checksum-Algorithm).
	ChecksumAlgorithms = "md5,sha1,sha256"

	// offsetType is the Content-Type of a PATCH body (and of data sent with a POST).
	offsetType = "application/offset+octet-stream"
	// maxMetadata caps Upload-Metadata (its decoded keys and values): it is kept with the
	// upload's record.
	maxMetadata = 8 << 10
)

// Request headers a browser page sends and response headers it reads (CORS).
const (
	RequestHeaders  = "Tus-Resumable, Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Offset, Upload-Checksum, Content-Type, X-Request-Id"
	ResponseHeaders = "Location, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, X-Request-Id"
	Methods         = "POST, HEAD, PATCH, DELETE, OPTIONS"
)

// checkVersion refuses a request that does not speak Version (412, with Tus-Version).
func checkVersion(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Tus-Resumable") != Version {
		w.Header().Set("Tus-Version", Version)
		return errUnsupportedVersion
	}
	return nil
}

// uploadLength reads a creation's Upload-Length, or Upload-Defer-Length: 1 (length -1).
func uploadLength(h http.Header) (int64, error) {
	l, d := h.Get("Upload-Length"), h.Get("Upload-Defer-Length")
	switch {
	case l != "" && d != "":
		return 0, badRequest("give Upload-Length or Upload-Defer-Length, not both")
	case d != "":
		if d != "1" {
			return 0, badRequest("Upload-Defer-Length must be 1")
		}
		return -1, nil
	case l == "":
		return 0, badRequest("Upload-Length (or Upload-Defer-Length: 1) is required")
	}
	return parseSize("Upload-Length", l)
}

// parseSize reads a non-negative decimal header value.
func parseSize(name, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v[0] == '+' {
		return 0, badRequest(name + " must be a non-negative integer")
	}
	return n, nil
}

// parseMetadata reads Upload-Metadata: comma-separated "key base64(value)" pairs (the value
// may be left out); keys unique, of printable ASCII without spaces or commas.
func parseMetadata(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	md := map[string]string{}
	size := 0
	for _, pair := range strings.Split(v, ",") {
		key, enc, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if key == "" || strings.ContainsFunc(key, func(c rune) bool { return c <= ' ' || c > '~' }) {
			return nil, badRequest("Upload-Metadata: each pair is a key of printable ASCII and a base64 value")
		}
		if _, dup := md[key]; dup {
			return nil, badRequest("Upload-Metadata: key " + strconv.Quote(key) + " given twice")
		}
		val, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return nil, badRequest("Upload-Metadata: the value of " + strconv.Quote(key) + " is not base64")
		}
		md[key] = string(val)
		if size += len(key) + len(val); size > maxMetadata {
			return nil, badRequest(fmt.Sprintf("Upload-Metadata is larger than %d bytes", maxMetadata))
		}
	}
	return md, nil
}

// encodeMetadata writes md back in Upload-Metadata form, keys sorted.
func encodeMetadata(md map[string]string) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		if md[k] != "" {
			b.WriteByte(' ')
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(md[k])))
		}
	}
	return b.String()
}

// metadataType is the media type a client announced in its metadata ("filetype", as
// tus-js-client and Uppy send it, else "type"); "" when none is a valid media type.
func metadataType(md map[string]string) string {
	for _, k := range []string{"filetype", "type"} {
		if v := md[k]; v != "" {
			if _, _, err := mime.ParseMediaType(v); err == nil {
				return v
			}
		}
	}
	return ""
}

// checksum is a PATCH's Upload-Checksum: the digest its body must have.
type checksum struct {
	h    hash.Hash
	want []byte
}

// parseChecksum reads Upload-Checksum ("<algorithm> <base64 digest>"); nil when absent.
func parseChecksum(v string) (*checksum, error) {
	if v == "" {
		return nil, nil
	}
	algo, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	var h hash.Hash
	switch algo {
	case "md5":
		h = md5.New()
	case "sha1":
		h = sha1.New()
	case "sha256":
		h = sha256.New()
	default:
		return nil, badRequest("Upload-Checksum: unsupported algorithm (" + ChecksumAlgorithms + ")")
	}
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if !ok || err != nil || len(want) != h.Size() {
		return nil, badRequest("Upload-Checksum: want \"<algorithm> <base64 digest>\"")
	}
	return &checksum{h: h, want: want}, nil
}

// httpDate formats Unix milliseconds as an HTTP date (Upload-Expires).
func httpDate(ms int64) string { return time.UnixMilli(ms).UTC().Format(http.TimeFormat) }
