package api_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/objstore"
)

// fakeS3 is a hand-written S3 server of the multipart calls only — create, upload a part
// (to a presigned URL, whose signature it does not check), list, complete, abort — so that
// the OpenAPI run can take Uppy's endpoints through every answer without a real store.
// Answers are S3's XML. With fail set it answers everything 403 AccessDenied (a failure the
// SDK does not retry).
type fakeS3 struct {
	fail atomic.Bool

	mu      sync.Mutex
	seq     int
	uploads map[string]map[int]fakePart // upload id → part number →
	objects map[string]bool             // keys completed
}

type fakePart struct {
	etag string
	size int
}

func newFakeS3() *fakeS3 {
	return &fakeS3{uploads: map[string]map[int]fakePart{}, objects: map[string]bool{}}
}

// s3Alias serves h and returns its URL and an S3 backend on its bucket "b" (built without
// I/O).
func s3Alias(t *testing.T, h http.Handler) (string, *objstore.S3) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Bucket: "b", Endpoint: srv.URL, ForcePathStyle: true, AccessKey: "ak", SecretKey: "sk",
		Region: "us-east-1", PartSize: objstore.MinPartSize, PartConcurrency: 1, ResponseTimeout: 5 * time.Second,
		UploadBudget: objstore.NewUploadBudget(objstore.MinPartSize),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return srv.URL, b
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[1] // path style: /bucket/key
	if f.fail.Load() {
		fakeError(w, http.StatusForbidden, "AccessDenied")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := q.Get("uploadId")
	parts, open := f.uploads[id]
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.seq++
		id = fmt.Sprintf("fake-upload-%d", f.seq)
		f.uploads[id] = map[int]fakePart{}
		fakeXML(w, struct {
			XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
			Key      string
			UploadId string
		}{Key: key, UploadId: id})
	case id != "" && !open:
		fakeError(w, http.StatusNotFound, "NoSuchUpload")
	case r.Method == http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		sum := md5.Sum(body)
		n, _ := strconv.Atoi(q.Get("partNumber"))
		parts[n] = fakePart{etag: hex.EncodeToString(sum[:]), size: len(body)}
		w.Header().Set("ETag", `"`+parts[n].etag+`"`)
	case r.Method == http.MethodGet:
		type part struct {
			PartNumber int
			ETag       string
			Size       int
		}
		out := struct {
			XMLName     xml.Name `xml:"ListPartsResult"`
			IsTruncated bool
			Part        []part
		}{}
		for n := 1; n <= 10000 && len(out.Part) < len(parts); n++ {
			if p, ok := parts[n]; ok {
				out.Part = append(out.Part, part{n, `"` + p.etag + `"`, p.size})
			}
		}
		fakeXML(w, out)
	case r.Method == http.MethodPost:
		if r.Header.Get("If-None-Match") == "*" && f.objects[key] {
			fakeError(w, http.StatusPreconditionFailed, "PreconditionFailed")
			return
		}
		delete(f.uploads, id)
		f.objects[key] = true
		fakeXML(w, struct {
			XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
			Key     string
			ETag    string
		}{Key: key, ETag: `"fake-etag-1"`})
	case r.Method == http.MethodDelete:
		delete(f.uploads, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		fakeError(w, http.StatusNotImplemented, "NotImplemented")
	}
}

// store puts an object in place at key (for if_none_match).
func (f *fakeS3) store(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = true
}

func fakeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/xml")
	_ = xml.NewEncoder(w).Encode(v)
}

func fakeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, code)
}
