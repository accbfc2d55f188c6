package sigv4

import (
	"net/http"
	"testing"
)

func TestStoredContentEncoding(t *testing.T) {
	tests := []struct {
		values []string
		want   string
	}{
		{nil, ""},
		{[]string{"aws-chunked"}, ""},
		{[]string{"aws-chunked,gzip"}, "gzip"},
		{[]string{"gzip, AWS-Chunked , br"}, "gzip,br"},
		{[]string{"aws-chunked", "gzip"}, "gzip"},
	}
	for _, tt := range tests {
		h := http.Header{"Content-Encoding": tt.values}
		if got := StoredContentEncoding(h); got != tt.want {
			t.Errorf("StoredContentEncoding(%q): got %q, want %q", tt.values, got, tt.want)
		}
	}
}
