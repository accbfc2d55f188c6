package sigv4

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		err        error
		wantStatus int
		wantCode   string
	}{
		{"typed", "GET", newError(CodeSignatureDoesNotMatch, "nope <&>"), 403, CodeSignatureDoesNotMatch},
		{"wrapped", "PUT", errors.Join(errors.New("ctx"), newError(CodeBadDigest, "bad")), 400, CodeBadDigest},
		{"untyped", "GET", errors.New("redis: connection refused"), 500, CodeInternalError},
		{"status from the code", "GET", &Error{Code: CodeAccessDenied, Message: "revoked"}, 403, CodeAccessDenied},
		{"no status, unknown code", "GET", &Error{Code: "Weird", Message: "?"}, 500, "Weird"},
		{"head", "HEAD", newError(CodeAccessDenied, "Access Denied"), 403, CodeAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, "/bucket/a%20b", nil)
			WriteError(w, r, tt.err, "REQ123")
			if w.Code != tt.wantStatus || w.Header().Get("Content-Type") != "application/xml" || w.Header().Get("X-Amz-Request-Id") != "REQ123" {
				t.Fatalf("got %d %v", w.Code, w.Header())
			}
			if tt.method == "HEAD" {
				if w.Body.Len() != 0 {
					t.Fatalf("HEAD answer has a body: %q", w.Body)
				}
				return
			}
			var doc struct {
				Code, Message, Resource, RequestId string
			}
			if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%v: %s", err, w.Body)
			}
			if doc.Code != tt.wantCode || doc.Resource != "/bucket/a b" || doc.RequestId != "REQ123" {
				t.Fatalf("got %+v", doc)
			}
			if strings.Contains(w.Body.String(), "redis") {
				t.Fatalf("the cause leaked: %s", w.Body)
			}
			if w.Header().Get("Content-Length") != "" && w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
				t.Fatalf("Content-Length %s for %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
			}
		})
	}
	if statusOf[CodeInternalError] != http.StatusInternalServerError {
		t.Fatal("InternalError is not a 500")
	}
}
