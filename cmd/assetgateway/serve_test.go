package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/config"
	"github.com/assetgateway/assetgateway/internal/testenv"
)

// startServer serves a hello handler with newServer(cfg) until the test ends.
func startServer(t *testing.T, cfg *config.Config) *server {
	t.Helper()
	cfg.Server.Listen = "127.0.0.1:0"
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	srv, err := newServer(cfg, hello, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.serve() }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
	})
	return srv
}

func TestNewServerCapsConnections(t *testing.T) {
	cfg := config.Default()
	cfg.Server.MaxConnsPerClient = 1
	srv := startServer(t, &cfg)
	addr := srv.ln.Addr().String()
	get := func() (int, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: gw\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := get(); status != 200 {
		t.Fatalf("first connection: got %d %s, want 200", status, body)
	}
	if status, body := get(); status != 503 {
		t.Fatalf("second connection from the same client: got %d %s, want 503", status, body)
	}
}

func TestNewServerTLS(t *testing.T) {
	certPEM, keyPEM, err := testenv.SelfSigned("gateway")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Server.TLS = config.TLS{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if _, err := newServer(&cfg, http.NotFoundHandler(), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("newServer started without its certificate files")
	}
	if err := os.WriteFile(cfg.Server.TLS.CertFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Server.TLS.KeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, &cfg)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	resp, err := hc.Get("https://" + srv.ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "hello" {
		t.Errorf("got HTTP/%d %q, want HTTP/2 \"hello\"", resp.ProtoMajor, body)
	}
}
