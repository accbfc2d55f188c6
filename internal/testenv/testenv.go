// Package testenv starts the real servers that integration tests run against — redis-server,
// MinIO and versitygw — on 127.0.0.1, each on a free port, and stops them when the test (or
// the test binary) ends.
//
// Binaries are looked up on PATH and then in the cache folder that scripts/test.sh installs
// into (BinDir). A missing binary fails the test with the command that installs it; nothing
// is skipped silently. `go test -short` skips integration tests explicitly.
//
// Packages that use the shared S3 servers call testenv.Main from TestMain so that the servers
// are stopped when the package's tests end (they also die with the test binary: Pdeathsig).
package testenv

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinDir is the cache folder scripts/test.sh installs pinned server binaries into:
// $AG_BIN_DIR, else $XDG_CACHE_HOME/assetgateway/bin, else ~/.cache/assetgateway/bin.
func BinDir() string {
	if d := os.Getenv("AG_BIN_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "assetgateway", "bin")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "assetgateway-bin")
	}
	return filepath.Join(home, ".cache", "assetgateway", "bin")
}

// installHint says how to get each binary.
var installHint = map[string]string{
	"redis-server": "apt-get update && apt-get install -y redis-server (or run scripts/test.sh)",
	"redis-cli":    "apt-get update && apt-get install -y redis-server (or run scripts/test.sh)",
	"minio":        "run scripts/test.sh (it builds the pinned MinIO into " + BinDir() + ")",
	"versitygw":    "run scripts/test.sh (it builds the pinned versitygw into " + BinDir() + ")",
	"toxiproxy-server": "run scripts/test.sh (it builds the pinned toxiproxy server into " + BinDir() +
		" as toxiproxy-server)",
	"mc": "run scripts/test.sh (it builds the pinned mc, MinIO's client, into " + BinDir() + ")",
}

// LookBin finds a server binary on PATH or in BinDir.
func LookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(BinDir(), name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p, nil
	}
	return "", fmt.Errorf("%s not found on PATH or in %s: %s", name, BinDir(), installHint[name])
}

// Integration marks t as an integration test: skipped (explicitly) under -short.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is one started server.
type process struct {
	cmd  *exec.Cmd
	log  string // path of its combined output
	done chan struct{}
}

// start runs bin with args, output to logPath, killed with the test binary.
func start(bin string, args []string, env []string, logPath string) (*process, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// stop kills the process and waits for it.
func (p *process) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines of the process log, for failure messages.
func (p *process) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls ready until it returns nil, the process exits, or the deadline passes.
func waitFor(p *process, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = ready(); err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("exited during start-up: %v\n%s", err, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v\n%s", timeout, err, p.tail())
}

// Redis is a redis-server owned by one test.
type Redis struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Dir is its working directory (AOF files live here when enabled).
	Dir  string
	bin  string
	args []string
	proc *process
}

// StartRedis starts a fresh redis-server for t (no persistence unless extra args turn it on,
// e.g. "--appendonly", "yes") and stops it when t ends.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	Integration(t)
	bin, err := LookBin("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{Dir: t.TempDir(), bin: bin}
	var lastErr error
	for range 3 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		r.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		r.args = append([]string{
			"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", r.Dir, "--protected-mode", "no",
		}, extra...)
		if lastErr = r.start(); lastErr == nil {
			t.Cleanup(r.Stop)
			return r
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func (r *Redis) start() error {
	p, err := start(r.bin, r.args, nil, filepath.Join(r.Dir, "redis.log"))
	if err != nil {
		return err
	}
	if err := waitFor(p, 10*time.Second, func() error { return pingRedis(r.Addr) }); err != nil {
		p.stop()
		return err
	}
	r.proc = p
	return nil
}

// Stop kills the server (SIGKILL: nothing is flushed beyond what AOF already wrote).
func (r *Redis) Stop() {
	r.proc.stop()
}

// Restart starts the server again on the same port and directory after Stop.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	if err := r.start(); err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
}

// pingRedis speaks just enough RESP to see PONG.
func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// NOAUTH: the server answers, it just wants the password (--requirepass).
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("ping answered %q", strings.TrimSpace(line))
	}
	return nil
}

// S3 is a running S3 server shared by a test binary.
type S3 struct {
	// Name is "minio" or "versitygw".
	Name string
	// Endpoint is the base URL, http:// or https://.
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// CAFile is the PEM file of the self-signed certificate (https only).
	CAFile string
	// Dir is the server's data directory.
	Dir  string
	proc *process
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*S3{}
	sharedTD []string
)

// MinIO returns the test binary's MinIO server, over HTTPS with a self-signed certificate for
// 127.0.0.1 when tls is true, starting it on first use.
func MinIO(t testing.TB, tls bool) *S3 {
	t.Helper()
	return sharedS3(t, "minio", tls)
}

// VersityGW returns the test binary's versitygw server (posix backend), starting it on first use.
func VersityGW(t testing.TB, tls bool) *S3 {
	t.Helper()
	return sharedS3(t, "versitygw", tls)
}

func sharedS3(t testing.TB, name string, tls bool) *S3 {
	t.Helper()
	Integration(t)
	id := name
	if tls {
		id += "+tls"
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s := shared[id]; s != nil {
		return s
	}
	bin, err := LookBin(name)
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp("", "ag-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	sharedTD = append(sharedTD, root)
	s := &S3{Name: name, Region: "us-east-1", AccessKey: "agtestaccess", SecretKey: "agtestsecret-0123456789", Dir: filepath.Join(root, "data")}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var certDir string
	if tls {
		certDir = filepath.Join(root, "certs")
		if err := writeSelfSigned(certDir); err != nil {
			t.Fatal(err)
		}
		s.CAFile = filepath.Join(certDir, "public.crt")
	}
	var lastErr error
	for range 3 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		scheme := "http"
		if tls {
			scheme = "https"
		}
		s.Endpoint = fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
		args, env, err := s3Command(name, s, port, certDir)
		if err != nil {
			t.Fatal(err)
		}
		p, err := start(bin, args, env, filepath.Join(root, fmt.Sprintf("%s-%d.log", name, port)))
		if err != nil {
			t.Fatal(err)
		}
		ready := func() error { return dialOK(port) }
		if name == "minio" {
			ready = func() error { return minioReady(s) }
		}
		lastErr = waitFor(p, 30*time.Second, ready)
		if lastErr == nil {
			s.proc = p
			shared[id] = s
			return s
		}
		p.stop()
	}
	t.Fatalf("start %s: %v", name, lastErr)
	return nil
}

// dialOK reports whether something accepts TCP connections on the port. Both servers answer
// S3 requests as soon as they listen; callers' first request still retries through the SDK.
func dialOK(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 500*time.Millisecond)
	if err != nil {
		return err
	}
	return c.Close()
}

// minioReady asks MinIO's readiness probe: MinIO listens before it can serve requests.
func minioReady(s *S3) error {
	tr := &http.Transport{}
	if s.CAFile != "" {
		pemBytes, err := os.ReadFile(s.CAFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemBytes)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: time.Second}
	resp, err := c.Get(s.Endpoint + "/minio/health/ready")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readiness probe answered %d", resp.StatusCode)
	}
	// The probe turns green a moment before the S3 API stops answering 503 (server not
	// initialized): wait for a real S3 answer too.
	resp, err = c.Get(s.Endpoint + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return fmt.Errorf("S3 API still answers 503")
	}
	return nil
}

// Main runs the package's tests and then stops the shared servers.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// StopShared stops every shared S3 server and removes their folders.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for id, s := range shared {
		s.proc.stop()
		delete(shared, id)
	}
	for _, d := range sharedTD {
		_ = os.RemoveAll(d)
	}
	sharedTD = nil
}

// writeSelfSigned writes public.crt/private.key for 127.0.0.1 and localhost into dir, in the
// layout MinIO's --certs-dir expects.
func writeSelfSigned(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	certPEM, keyPEM, err := SelfSigned("assetgateway test")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "public.crt"), certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "private.key"), keyPEM, 0o600)
}

// SelfSigned returns a new self-signed certificate for 127.0.0.1 and localhost (a CA of
// itself, so it can be trusted as a root), valid for a day, and its key, both PEM encoded.
// Each call has a new key and serial number.
func SelfSigned(commonName string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

// s3Command returns the arguments and environment that start server name (minio or
// versitygw) for s on port, with TLS from certDir when it is not "".
func s3Command(name string, s *S3, port int, certDir string) (args, env []string, err error) {
	switch name {
	case "minio":
		cport, err := FreePort()
		if err != nil {
			return nil, nil, err
		}
		args = []string{"server", s.Dir, "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port),
			"--console-address", fmt.Sprintf("127.0.0.1:%d", cport)}
		if certDir != "" {
			args = append(args, "--certs-dir", certDir)
		}
		env = []string{"MINIO_ROOT_USER=" + s.AccessKey, "MINIO_ROOT_PASSWORD=" + s.SecretKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CONFIG_ENV_FILE="}
	case "versitygw":
		args = []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--port", fmt.Sprintf("127.0.0.1:%d", port)}
		if certDir != "" {
			args = append(args, "--cert", filepath.Join(certDir, "public.crt"), "--key", filepath.Join(certDir, "private.key"))
		}
		args = append(args, "posix", s.Dir)
	}
	return args, env, nil
}
