package edge

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

type pair struct{ cert, key []byte }

func newPair(t *testing.T, name string) pair {
	t.Helper()
	c, k, err := testenv.SelfSigned(name)
	if err != nil {
		t.Fatal(err)
	}
	return pair{c, k}
}

// writes numbers the versions written: the files' modification times step by a second per
// write, as they would between real renewals (file systems stamp times from a coarse clock,
// so two writes in the same few milliseconds may carry the same time).
var writes int

func (p pair) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	writes++
	mod := time.Now().Add(time.Duration(writes) * time.Second)
	for _, f := range []struct {
		path string
		data []byte
	}{{keyFile, p.key}, {certFile, p.cert}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f.path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// served returns the common name of the certificate GetCertificate hands out now, after
// making the next call look at the files (as it does once a second).
func served(t *testing.T, c *Certificate) string {
	t.Helper()
	c.checked.Store(0)
	cert, err := c.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || cert == nil || cert.Leaf == nil {
		t.Fatalf("GetCertificate: %v, %v", cert, err)
	}
	return cert.Leaf.Subject.CommonName
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	a, b, c := newPair(t, "pair a"), newPair(t, "pair b"), newPair(t, "pair c")
	a.write(t, certFile, keyFile)
	var logs syncBuffer
	cert, err := LoadCertificate(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		change  func()
		want    string
		wantLog string
	}{
		{"unchanged", func() {}, "pair a", ""},
		{"renewed", func() { b.write(t, certFile, keyFile) }, "pair b", "tls_certificate_reloaded"},
		{"key that does not match", func() { pair{c.cert, a.key}.write(t, certFile, keyFile) }, "pair b", "tls_certificate_reload_failed"},
		{"key file gone", func() { os.Remove(keyFile) }, "pair b", "tls_certificate_reload_failed"},
		{"fixed", func() { c.write(t, certFile, keyFile) }, "pair c", "tls_certificate_reloaded"},
	}
	for _, s := range steps {
		before := len(logs.String())
		s.change()
		if got := served(t, cert); got != s.want {
			t.Fatalf("%s: serving %q, want %q", s.name, got, s.want)
		}
		if got := logs.String()[before:]; !strings.Contains(got, s.wantLog) || (s.wantLog == "" && got != "") {
			t.Errorf("%s: logged %q, want %q", s.name, got, s.wantLog)
		}
	}
	// A broken pair is reported once, not at every look.
	pair{a.cert, c.key}.write(t, certFile, keyFile)
	served(t, cert)
	before := len(logs.String())
	if got := served(t, cert); got != "pair c" || len(logs.String()) != before {
		t.Errorf("looking again at the same broken pair: serving %q, logged %q", got, logs.String()[before:])
	}
}

func TestLoadCertificateFails(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	a, b := newPair(t, "a"), newPair(t, "b")
	pair{a.cert, b.key}.write(t, certFile, keyFile)
	if _, err := LoadCertificate(certFile, keyFile, nil); err == nil {
		t.Error("a mismatched pair loaded")
	}
	if _, err := LoadCertificate(certFile, filepath.Join(dir, "missing.pem"), nil); err == nil {
		t.Error("a missing key file loaded")
	}
}
