package sigv4

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestChecksumVectors checks each algorithm on the CRC catalogue's "123456789" check values
// (CRC-64/NVME: 0xae8b14860a799888) and the value in AWS's trailer example.
func TestChecksumVectors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want uint64
	}{
		{"x-amz-checksum-crc32", []byte("123456789"), 0xcbf43926},
		{"x-amz-checksum-crc32c", []byte("123456789"), 0xe3069283},
		{"x-amz-checksum-crc64nvme", []byte("123456789"), 0xae8b14860a799888},
		{"x-amz-checksum-crc64nvme", make([]byte, 32), 0xcf3473434d4ecf3b},
	}
	for _, tt := range tests {
		h := checksumAlgs[tt.name]()
		h.Write(tt.data)
		sum := h.Sum(nil)
		var got uint64
		if len(sum) == 4 {
			got = uint64(binary.BigEndian.Uint32(sum))
		} else {
			got = binary.BigEndian.Uint64(sum)
		}
		if got != tt.want {
			t.Errorf("%s(%q): got %#x, want %#x", tt.name, tt.data, got, tt.want)
		}
	}
	h := checksumAlgs["x-amz-checksum-crc32c"]()
	h.Write(bytes.Repeat([]byte{'a'}, 65*1024))
	if want, _ := decodeDigest("x-amz-checksum-crc32c", "sOO8/Q=="); !bytes.Equal(h.Sum(nil), want) {
		t.Errorf("crc32c of the AWS example: got %x, want sOO8/Q==", h.Sum(nil))
	}
}

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
