package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion = "us-east-1"
)

// testTime is when the tests' requests are signed and verified.
var testTime = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// secrets is a Secret function over a fixed table.
func secrets(m map[string]string) func(context.Context, string) (string, error) {
	return func(_ context.Context, id string) (string, error) {
		s, ok := m[id]
		if !ok {
			return "", ErrUnknownAccessKey
		}
		return s, nil
	}
}

func testVerifier() *Verifier {
	return &Verifier{Region: testRegion, Secret: secrets(map[string]string{testAKID: testSecret})}
}

// wire sends r through its HTTP/1.1 wire form and parses it back as Go's server does, so a
// test sees what a handler would: Host moved to r.Host, Content-Length or Transfer-Encoding
// moved to r.ContentLength and r.TransferEncoding, the path decoded.
func wire(t testing.TB, r *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	got, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("parsing the request back: %v\n%s", err, buf.String())
	}
	return got
}

// s3Escape encodes a key as S3 clients put it in a path: every byte but A-Za-z0-9-._~ and
// '/' as %XX. Written apart from the package's own encoder on purpose.
func s3Escape(key string) string {
	var b strings.Builder
	for _, c := range []byte(key) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-._~/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// wantCode checks err is an *Error with code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got %s (%q), want %s", e.Code, e.Message, code)
	}
	if e.Status != statusOf[code] || e.Status == 0 {
		t.Fatalf("got status %d for %s, want %d", e.Status, code, statusOf[code])
	}
}

// readAll reads r in reads of step bytes (varying sizes exercise the hold-back) and returns
// the bytes and the first error other than io.EOF.
func readAll(r io.Reader, step int) ([]byte, error) {
	var out []byte
	buf := make([]byte, step)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
