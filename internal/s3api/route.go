package s3api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// opKind is an S3 operation the listener serves.
type opKind int

// The operations, named as S3 names them.
const (
	opListBuckets opKind = iota + 1
	opGetBucketLocation
	opHeadBucket
	opListObjectsV2
	opGetObject
	opHeadObject
	opPutObject
	opDeleteObject
	opCreateMultipartUpload
	opUploadPart
	opCompleteMultipartUpload
	opAbortMultipartUpload
	opListParts
	opDeleteObjects
)

var opNames = map[opKind]string{
	opListBuckets: "ListBuckets", opGetBucketLocation: "GetBucketLocation", opHeadBucket: "HeadBucket",
	opListObjectsV2: "ListObjectsV2", opGetObject: "GetObject", opHeadObject: "HeadObject",
	opPutObject: "PutObject", opDeleteObject: "DeleteObject", opCreateMultipartUpload: "CreateMultipartUpload",
	opUploadPart: "UploadPart", opCompleteMultipartUpload: "CompleteMultipartUpload",
	opAbortMultipartUpload: "AbortMultipartUpload", opListParts: "ListParts", opDeleteObjects: "DeleteObjects",
}

func (k opKind) String() string { return opNames[k] }

// op is a routed request: the operation and what it names. Bucket is the bucket alias.
type op struct {
	kind     opKind
	bucket   string
	key      string
	uploadID string // multipart calls but Create
	part     int32  // UploadPart
}

// maxKeyBytes is S3's limit on an object key.
const maxKeyBytes = 1024

// allowed are the query parameters each operation takes besides the ones every request may
// carry (presigning's X-Amz-*, the SDKs' x-id). A request with any other parameter asks for
// something the listener does not serve (?acl, ?tagging, ?versionId, …) and is refused, never
// served as the plain operation it resembles.
var allowed = map[opKind][]string{
	opListBuckets:             {"max-buckets", "continuation-token", "prefix", "bucket-region"},
	opGetBucketLocation:       {"location"},
	opHeadBucket:              nil,
	opListObjectsV2:           {"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "encoding-type", "fetch-owner", "metadata"},
	opGetObject:               {"response-content-type", "response-content-language", "response-expires", "response-cache-control", "response-content-disposition", "response-content-encoding"},
	opHeadObject:              {"response-content-type", "response-content-language", "response-expires", "response-cache-control", "response-content-disposition", "response-content-encoding"},
	opPutObject:               nil,
	opDeleteObject:            nil,
	opCreateMultipartUpload:   {"uploads"},
	opUploadPart:              {"partNumber", "uploadId"},
	opCompleteMultipartUpload: {"uploadId"},
	opAbortMultipartUpload:    {"uploadId"},
	opListParts:               {"uploadId", "max-parts", "part-number-marker", "encoding-type"},
	opDeleteObjects:           {"delete"},
}

// route names the operation of a path-style request: "/" is the service, "/{bucket}" a
// bucket, "/{bucket}/{key}" an object (path is the decoded path; the key is everything after
// the bucket's slash, as written). It answers AccessDenied for anything else: another
// method, a sub-resource, a copy.
func route(method, path string, q url.Values, h http.Header) (op, error) {
	var o op
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return o, errAccessDenied("Access Denied")
	}
	o.bucket, o.key, _ = strings.Cut(rest, "/")
	if o.bucket == "" && rest != "" {
		return o, errAccessDenied("Access Denied")
	}
	switch {
	case o.bucket == "":
		o.kind = serviceOp(method)
	case o.key == "":
		o.kind = bucketOp(method, q)
	default:
		o.kind = objectOp(method, q)
	}
	if o.kind == 0 || h.Get("X-Amz-Copy-Source") != "" {
		return o, errAccessDenied("Access Denied: these credentials serve GetObject, HeadObject, PutObject, DeleteObject(s), " +
			"the multipart calls, ListObjectsV2 and ListBuckets, within their token's grant; nothing else")
	}
	for name := range q {
		if !known(o.kind, name) {
			return o, errAccessDenied("Access Denied: the query parameter " + strconv.Quote(trunc(name)) + " is not served here")
		}
	}
	if len(o.key) > maxKeyBytes {
		return o, newError(codeKeyTooLong, "Your key is too long")
	}
	return o, o.parseMultipart(q)
}

func serviceOp(method string) opKind {
	if method == http.MethodGet {
		return opListBuckets
	}
	return 0
}

func bucketOp(method string, q url.Values) opKind {
	switch {
	case method == http.MethodHead:
		return opHeadBucket
	case method == http.MethodPost && q.Has("delete"):
		return opDeleteObjects
	case method != http.MethodGet:
		return 0
	case q.Has("location"):
		return opGetBucketLocation
	case q.Get("list-type") == "2":
		return opListObjectsV2
	}
	return 0 // ListObjects (v1), ListMultipartUploads, ?acl, …
}

func objectOp(method string, q url.Values) opKind {
	upload := q.Has("uploadId")
	switch method {
	case http.MethodGet:
		if upload {
			return opListParts
		}
		return opGetObject
	case http.MethodHead:
		return opHeadObject
	case http.MethodPut:
		switch {
		case upload || q.Has("partNumber"):
			return opUploadPart
		}
		return opPutObject
	case http.MethodPost:
		switch {
		case q.Has("uploads") && !upload:
			return opCreateMultipartUpload
		case upload:
			return opCompleteMultipartUpload
		}
	case http.MethodDelete:
		if upload {
			return opAbortMultipartUpload
		}
		return opDeleteObject
	}
	return 0
}

// known reports whether a query parameter belongs to the operation (or to every request).
func known(k opKind, name string) bool {
	if name == "x-id" || len(name) > 6 && strings.EqualFold(name[:6], "X-Amz-") {
		return true
	}
	for _, a := range allowed[k] {
		if a == name {
			return true
		}
	}
	return false
}

// parseMultipart reads the upload id and part number of the multipart calls.
func (o *op) parseMultipart(q url.Values) error {
	switch o.kind {
	case opUploadPart, opCompleteMultipartUpload, opAbortMultipartUpload, opListParts:
	default:
		return nil
	}
	o.uploadID = q.Get("uploadId")
	if len(q["uploadId"]) != 1 || o.uploadID == "" {
		return newError(codeInvalidArgument, "This operation needs exactly one uploadId.")
	}
	if o.kind != opUploadPart {
		return nil
	}
	n, err := strconv.ParseInt(q.Get("partNumber"), 10, 32)
	if err != nil || len(q["partNumber"]) != 1 || n < 1 || n > 10000 {
		return newError(codeInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
	}
	o.part = int32(n)
	return nil
}

// trunc shortens client input quoted back in a message.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
