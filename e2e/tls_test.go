package e2e

// TLS and HTTP/2 at the gateway: curl and Chromium over h2, and a certificate replaced while
// connections stay open.

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// certPair is a self-signed certificate for 127.0.0.1 and its key, PEM encoded.
type certPair struct{ name, cert, key string }

func newCertPair(t *testing.T, name string) certPair {
	t.Helper()
	c, k, err := testenv.SelfSigned(name)
	if err != nil {
		t.Fatal(err)
	}
	return certPair{name, string(c), string(k)}
}

// install replaces dir/key.pem and dir/cert.pem with the pair, each by a rename, so that a
// reader never sees half a file.
func (p certPair) install(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []struct{ name, data string }{{"key.pem", p.key}, {"cert.pem", p.cert}} {
		tmp := filepath.Join(dir, "."+f.name+".new")
		if err := os.WriteFile(tmp, []byte(f.data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
}

// tlsGateway is a gateway serving HTTPS with the certificate files in dir.
type tlsGateway struct {
	*Gateway
	dir string
}

// startTLSGateway starts a gateway on env whose certificate is first, trusted by roots.
func startTLSGateway(t *testing.T, env *Env, first certPair, roots *x509.CertPool, args ...string) *tlsGateway {
	t.Helper()
	dir := t.TempDir()
	first.install(t, dir)
	g := launchGateway(t, "https", env.Config(func(cfg map[string]any) {
		s := section(cfg, "server")
		s["host"] = "https://LISTEN"
		s["tls"] = map[string]any{"cert_file": filepath.Join(dir, "cert.pem"), "key_file": filepath.Join(dir, "key.pem")}
	}), nil, args...)
	g.waitHealthy(t, h2Client(roots))
	return &tlsGateway{Gateway: g, dir: dir}
}

// h2Client trusts roots and speaks HTTP/2 when the server offers it.
func h2Client(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
}

// mintWith mints a token through hc.
func mintWith(t *testing.T, hc *http.Client, base, fields string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/token", strings.NewReader(fields))
	req.Header.Set("Authorization", "Bearer "+controlToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("POST /token %s: got %d (%v)", fields, resp.StatusCode, err)
	}
	return out.Token
}

// served returns the common name of the certificate a new connection is shown, and the
// HTTP version it gets.
func served(t *testing.T, url string, roots *x509.CertPool) (string, int) {
	t.Helper()
	hc := h2Client(roots)
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].Subject.CommonName, resp.ProtoMajor
}

// curlH2 fetches url with curl --http2 and returns the body and the HTTP version curl used.
func curlH2(t *testing.T, url, caFile string) ([]byte, string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: apt-get install -y curl (Debian's has nghttp2)")
	}
	body := filepath.Join(t.TempDir(), "body")
	out, err := exec.Command(curl, "--http2", "-sS", "--max-time", "10", "--cacert", caFile, "-o", body,
		"-w", "%{http_version} %{http_code}", url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v: %s", url, err, out)
	}
	version, code, _ := strings.Cut(string(out), " ")
	if code != "200" {
		t.Fatalf("curl %s: HTTP %s", url, code)
	}
	b, err := os.ReadFile(body)
	if err != nil {
		t.Fatal(err)
	}
	return b, version
}

// TestTLSGateway: server.tls serves HTTP/2 over TLS (curl --http2 sees version 2 for
// /healthz and an object), and replacing the certificate files is picked up by new
// handshakes while an open connection keeps working; a broken pair keeps the one in use.
func TestTLSGateway(t *testing.T) {
	env := newEnv(t, false)
	a, b, c := newCertPair(t, "gateway a"), newCertPair(t, "gateway b"), newCertPair(t, "gateway c")
	roots := x509.NewCertPool()
	for _, p := range []certPair{a, b, c} {
		roots.AppendCertsFromPEM([]byte(p.cert))
	}
	gw := startTLSGateway(t, env, a, roots)
	hc := h2Client(roots)
	content := randomBytes(1 << 20)
	env.putDirect(t, "tls/obj", content)
	tok := mintWith(t, hc, gw.URL, `{"bucket":"assets","key":"tls/obj","method":"GET"}`)

	t.Run("curl over HTTP/2", func(t *testing.T) {
		caFile := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(caFile, []byte(a.cert), 0o600); err != nil {
			t.Fatal(err)
		}
		health, v1 := curlH2(t, gw.URL+"/healthz", caFile)
		object, v2 := curlH2(t, gw.URL+"/object/"+tok, caFile)
		if v1 != "2" || v2 != "2" || !strings.Contains(string(health), `"ok"`) || !bytes.Equal(object, content) {
			t.Fatalf("curl: /healthz over HTTP/%s %q, object over HTTP/%s (%d bytes, want %d): want HTTP/2",
				v1, health, v2, len(object), len(content))
		}
	})

	t.Run("certificate replaced", func(t *testing.T) {
		// A connection opened under the first certificate.
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		get := func() *http.Response {
			req, _ := http.NewRequest("GET", gw.URL+"/healthz", nil)
			resp, err := hc.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		if resp := get(); resp.ProtoMajor != 2 || resp.TLS.PeerCertificates[0].Subject.CommonName != a.name {
			t.Fatalf("first connection: HTTP/%d, certificate %q", resp.ProtoMajor, resp.TLS.PeerCertificates[0].Subject.CommonName)
		}
		b.install(t, gw.dir)
		var name string
		if !pollUntil(5*time.Second, func() bool { name, _ = served(t, gw.URL+"/healthz", roots); return name == b.name }) {
			t.Fatalf("new connections still see %q 5 s after the files were replaced, want %q", name, b.name)
		}
		resp := get()
		if !reused || resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].Subject.CommonName != a.name {
			t.Errorf("the connection opened before: reused %v, %d, certificate %q; want it still open and working under %q",
				reused, resp.StatusCode, resp.TLS.PeerCertificates[0].Subject.CommonName, a.name)
		}

		failures := strings.Count(gw.Log(), "tls_certificate_reload_failed")
		certPair{"broken", c.cert, a.key}.install(t, gw.dir) // a key that does not match
		// The files are looked at during handshakes (at most once a second): make some.
		if !pollUntil(5*time.Second, func() bool {
			served(t, gw.URL+"/healthz", roots)
			return strings.Count(gw.Log(), "tls_certificate_reload_failed") > failures
		}) {
			t.Fatal("no tls_certificate_reload_failed warning 5 s after a broken pair was installed")
		}
		if name, v := served(t, gw.URL+"/healthz", roots); name != b.name || v != 2 {
			t.Errorf("after a broken pair: new connections see %q over HTTP/%d, want %q (the pair in use) over HTTP/2", name, v, b.name)
		}
		c.install(t, gw.dir)
		if !pollUntil(5*time.Second, func() bool { name, _ = served(t, gw.URL+"/healthz", roots); return name == c.name }) {
			t.Fatalf("after a good pair again: new connections see %q, want %q", name, c.name)
		}
	})
	assertNoSecrets(t, gw.Gateway, controlToken, tok, a.key, b.key, c.key)
}

// hlsResult is what hls.mjs prints.
type hlsResult struct {
	BrowserVersion string `json:"browserVersion"`
	Fatal          string `json:"fatal"`
	PageProtocol   string `json:"pageProtocol"`
	Segments       []struct {
		URL      string `json:"url"`
		Error    string `json:"error"`
		Status   int    `json:"status"`
		Size     int    `json:"size"`
		SHA256   string `json:"sha256"`
		Protocol string `json:"protocol"`
	} `json:"segments"`
}

// TestBrowserHLSOverHTTP2: headless Chromium, on a page of the gateway's HTTPS origin,
// fetches the 20 segments of an HLS-style rendition at once through one prefix token
// (GET /object/<token>/seg-N.ts). Every segment arrives whole, over h2 (the Performance
// API's nextHopProtocol), and the gateway logs each one.
func TestBrowserHLSOverHTTP2(t *testing.T) {
	testenv.Integration(t)
	node := browserDeps(t)
	env := newEnv(t, false)
	cert := newCertPair(t, "gateway")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(cert.cert))
	gw := startTLSGateway(t, env, cert, roots)

	const segments = 20
	sums := map[string]string{}
	var urls []string
	tok := mintWith(t, h2Client(roots), gw.URL, `{"bucket":"assets","prefix":"hls/show-1/","method":"GET","max_hits":-1}`)
	for i := range segments {
		data := randomBytes(48<<10 + i)
		putObjectTyped(t, env, fmt.Sprintf("hls/show-1/seg-%d.ts", i), "video/mp2t", data)
		sum := sha256.Sum256(data)
		u := fmt.Sprintf("%s/object/%s/seg-%d.ts", gw.URL, tok, i)
		urls = append(urls, u)
		sums[u] = hex.EncodeToString(sum[:])
	}
	list, _ := json.Marshal(urls)
	var res hlsResult
	start := time.Now()
	runNode(t, node, "hls.mjs", []string{
		"AG_CHROMIUM=" + chromiumPath,
		"AG_USER_DATA_DIR=" + t.TempDir(),
		"AG_ORIGIN_URL=" + gw.URL + "/healthz",
		"AG_SEGMENT_URLS=" + string(list),
	}, &res, func() string { return res.Fatal })
	t.Logf("Chromium %s; page over %q; %d segments in a run of %s", res.BrowserVersion, res.PageProtocol, len(res.Segments),
		time.Since(start).Round(time.Millisecond))

	if len(res.Segments) != segments {
		t.Fatalf("got %d segments, want %d", len(res.Segments), segments)
	}
	for _, s := range res.Segments {
		if s.Error != "" || s.Status != 200 || s.SHA256 != sums[s.URL] || s.Protocol != "h2" {
			t.Errorf("segment %s: got %d, %d bytes, sha256 %.12s…, over %q (error %q); want 200, the object, over h2",
				s.URL[strings.LastIndexByte(s.URL, '/')+1:], s.Status, s.Size, s.SHA256, s.Protocol, s.Error)
		}
	}
	if res.PageProtocol != "h2" {
		t.Errorf("the page itself came over %q, want h2", res.PageProtocol)
	}
	if n := parseAccessLog(t, gw.Gateway).count(tok, "GET", 200); n != segments {
		t.Errorf("gateway access log: %d GETs answered 200 for the prefix token, want %d", n, segments)
	}
}
