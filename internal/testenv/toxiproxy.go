package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// Toxiproxy is a toxiproxy-server (Shopify's fault-injecting TCP proxy) owned by one test. Put
// a Proxy between the gateway and a server, then disable it or add toxics (latency, timeout,
// reset_peer, limit_data, bandwidth) to inject faults.
type Toxiproxy struct {
	api  string // base URL of its control API
	hc   *http.Client
	proc *process
}

// StartToxiproxy starts a toxiproxy-server for t on a free port and stops it when t ends.
func StartToxiproxy(t testing.TB) *Toxiproxy {
	t.Helper()
	Integration(t)
	bin, err := LookBin("toxiproxy-server")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var lastErr error
	for range 3 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		tp := &Toxiproxy{
			api: fmt.Sprintf("http://127.0.0.1:%d", port),
			hc:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}},
		}
		p, err := start(bin, []string{"-host", "127.0.0.1", "-port", fmt.Sprint(port)}, nil,
			filepath.Join(dir, fmt.Sprintf("toxiproxy-%d.log", port)))
		if err != nil {
			t.Fatal(err)
		}
		lastErr = waitFor(p, 10*time.Second, func() error {
			resp, err := tp.hc.Get(tp.api + "/version")
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		})
		if lastErr == nil {
			tp.proc = p
			t.Cleanup(p.stop)
			return tp
		}
		p.stop()
	}
	t.Fatalf("start toxiproxy-server: %v", lastErr)
	return nil
}

// call sends one control-API request and decodes a JSON answer into out (nil: ignore it).
func (tp *Toxiproxy) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, tp.api+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := tp.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("toxiproxy %s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Proxy is one toxiproxy proxy: it listens on Addr and forwards to Upstream.
type Proxy struct {
	Name     string
	Addr     string // host:port on 127.0.0.1 to connect to instead of Upstream
	Upstream string
	tp       *Toxiproxy
}

// Proxy creates a proxy named name on a free port of 127.0.0.1 in front of upstream.
func (tp *Toxiproxy) Proxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	var out struct {
		Listen string `json:"listen"`
	}
	in := map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true}
	if err := tp.call("POST", "/proxies", in, &out); err != nil {
		t.Fatal(err)
	}
	return &Proxy{Name: name, Addr: out.Listen, Upstream: upstream, tp: tp}
}

// SetEnabled enables or disables the proxy. Disabled, it closes every connection and refuses
// new ones (the server looks down); enabled again, it listens on the same address.
func (p *Proxy) SetEnabled(t testing.TB, on bool) {
	t.Helper()
	if err := p.tp.call("POST", "/proxies/"+p.Name, map[string]any{"enabled": on}, nil); err != nil {
		t.Fatal(err)
	}
}

// Toxic is one fault. Stream is "upstream" (client to server) or "downstream" (server to
// client). Attributes depend on Type, e.g. latency {"latency": ms}, timeout {"timeout": ms,
// 0 = hold the data forever}, reset_peer {"timeout": ms}, limit_data {"bytes": n}.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// AddToxic adds a toxic to the proxy; it applies to open connections too. Toxicity 0 means 1
// (every connection).
func (p *Proxy) AddToxic(t testing.TB, x Toxic) {
	t.Helper()
	if x.Toxicity == 0 {
		x.Toxicity = 1
	}
	if err := p.tp.call("POST", "/proxies/"+p.Name+"/toxics", x, nil); err != nil {
		t.Fatal(err)
	}
}

// RemoveToxic removes a toxic by name.
func (p *Proxy) RemoveToxic(t testing.TB, name string) {
	t.Helper()
	if err := p.tp.call("DELETE", "/proxies/"+p.Name+"/toxics/"+name, nil, nil); err != nil {
		t.Fatal(err)
	}
}
