package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestRevProxyForwardsUnchanged checks what a presigned URL needs from the bare reverse
// proxy: the Host the client signed for, the path and the query exactly as sent, no headers
// added, and the body streamed back whole.
func TestRevProxyForwardsUnchanged(t *testing.T) {
	type seen struct {
		host, uri string
		header    http.Header
	}
	got := make(chan seen, 1)
	body := strings.Repeat("0123456789abcdef", 4096)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.RequestURI, r.Header.Clone()}
		_, _ = io.WriteString(w, body)
	}))
	defer backend.Close()
	target, err := url.Parse(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(newRevProxy(target, 4, log.New(io.Discard, "", 0)))
	defer proxy.Close()

	const uri = "/assets/bench/obj%201k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab%2Fcd&x-id=GetObject"
	req, err := http.NewRequest(http.MethodGet, proxy.URL+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "signed-for.example:9000"
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || string(b) != body {
		t.Fatalf("got status %d and %d bytes, want 200 and %d bytes", resp.StatusCode, len(b), len(body))
	}
	s := <-got
	if s.host != req.Host {
		t.Errorf("Host at the backend: got %q, want %q", s.host, req.Host)
	}
	if s.uri != uri {
		t.Errorf("request URI at the backend: got %q, want %q", s.uri, uri)
	}
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		if v := s.header.Get(h); v != "" {
			t.Errorf("header %s added: %q", h, v)
		}
	}
}
