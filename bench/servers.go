package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// Every server runs on 127.0.0.1 on a free port, as a child of the bench in its own process
// group (so that nginx's workers go with their master), with its output in the run's
// temporary folder, and dies with the bench (Pdeathsig).

// Credentials and names the bench gives MinIO and the gateway.
const (
	accessKey    = "benchaccess"
	secretKey    = "benchsecret-0123456789"
	bucketName   = "assets"
	bucketAlias  = "assets"
	controlToken = "bench-control-token-0001"
	keyPrefix    = "ag:" // the gateway's redis.key_prefix
)

// proc is one started server.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProc runs bin with args; its output goes to logPath.
func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process group to terminate, then kills it after a grace period.
func (p *proc) stop() {
	if p == nil {
		return
	}
	pgid := p.pid() // Setpgid: the group id is the leader's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

// tail returns the end of the process's output, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 12 {
		lines = lines[len(lines)-12:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls ready until it succeeds, the process exits, or timeout passes.
func waitReady(ctx context.Context, p *proc, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err = ready(); err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited during start-up: %v\n%s", p.name, err, p.tail())
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %v\n%s", p.name, timeout, err, p.tail())
}

// servers is everything the bench started.
type servers struct {
	dir   string
	procs []*proc

	redis     *proc
	redisAddr string

	minio    *proc
	minioURL string

	nginx    *proc
	nginxURL string

	gateway   *proc
	gwURL     string
	gwS3URL   string // its S3 listener (s3api.go)
	gwDebug   string // pprof listener, host:port
	gwBin     string
	gwLogPath string

	ceiling    *proc
	ceilingURL string

	revproxy    *proc
	revproxyURL string
}

// stopAll stops every server, the last started first.
func (s *servers) stopAll() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
	s.procs = nil
}

// startWithPort starts a server on a fresh port, up to three times (a free port can be taken
// between the check and the bind).
func (s *servers) startWithPort(ctx context.Context, name string, launch func(port int) (*proc, func() error, error)) (*proc, int, error) {
	var lastErr error
	for range 3 {
		port, err := testenv.FreePort()
		if err != nil {
			return nil, 0, err
		}
		p, ready, err := launch(port)
		if err != nil {
			return nil, 0, err
		}
		if lastErr = waitReady(ctx, p, 30*time.Second, ready); lastErr == nil {
			s.procs = append(s.procs, p)
			return p, port, nil
		}
		p.stop()
	}
	return nil, 0, fmt.Errorf("start %s: %w", name, lastErr)
}

func (s *servers) startRedis(ctx context.Context) error {
	bin, err := testenv.LookBin("redis-server")
	if err != nil {
		return err
	}
	dir := filepath.Join(s.dir, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p, port, err := s.startWithPort(ctx, "redis-server", func(port int) (*proc, func() error, error) {
		args := []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--protected-mode", "no"}
		p, err := startProc("redis-server", bin, args, nil, filepath.Join(s.dir, "redis.log"))
		if err != nil {
			return nil, nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		return p, func() error {
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
			defer c.Close()
			return c.Ping(ctx).Err()
		}, nil
	})
	if err != nil {
		return err
	}
	s.redis, s.redisAddr = p, fmt.Sprintf("127.0.0.1:%d", port)
	return nil
}

func (s *servers) startMinIO(ctx context.Context) error {
	bin, err := testenv.LookBin("minio")
	if err != nil {
		return err
	}
	data := filepath.Join(s.dir, "minio-data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	p, port, err := s.startWithPort(ctx, "minio", func(port int) (*proc, func() error, error) {
		cport, err := testenv.FreePort()
		if err != nil {
			return nil, nil, err
		}
		args := []string{"server", data, "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port),
			"--console-address", fmt.Sprintf("127.0.0.1:%d", cport)}
		env := []string{"MINIO_ROOT_USER=" + accessKey, "MINIO_ROOT_PASSWORD=" + secretKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CONFIG_ENV_FILE="}
		p, err := startProc("minio", bin, args, env, filepath.Join(s.dir, "minio.log"))
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return minioReady(fmt.Sprintf("http://127.0.0.1:%d", port)) }, nil
	})
	if err != nil {
		return err
	}
	s.minio, s.minioURL = p, fmt.Sprintf("http://127.0.0.1:%d", port)
	return nil
}

// minioReady waits for the readiness probe and then for a real S3 answer (MinIO answers 503
// for a moment after the probe turns green).
func minioReady(base string) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	for _, path := range []string{"/minio/health/ready", "/"} {
		resp, err := c.Get(base + path)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable || (path != "/" && resp.StatusCode != http.StatusOK) {
			return fmt.Errorf("%s answered %d", path, resp.StatusCode)
		}
	}
	return nil
}

//go:embed nginx.conf.tmpl
var nginxConfTmpl string

// findNginx finds nginx on PATH or in /usr/sbin (not on a non-root PATH on Debian).
func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("nginx not found (the peer the bench compares against); install it with:\n    apt-get install -y nginx")
}

func (s *servers) startNginx(ctx context.Context, bin string, minioPort int, stock bool) error {
	dir := filepath.Join(s.dir, "nginx")
	for _, d := range []string{"", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	tmpl, err := template.New("nginx").Parse(nginxConfTmpl)
	if err != nil {
		return err
	}
	p, port, err := s.startWithPort(ctx, "nginx", func(port int) (*proc, func() error, error) {
		var conf bytes.Buffer
		err := tmpl.Execute(&conf, map[string]any{
			"Dir": dir, "Port": port, "MinIOPort": minioPort, "Root": os.Geteuid() == 0, "Stock": stock,
		})
		if err != nil {
			return nil, nil, err
		}
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
			return nil, nil, err
		}
		args := []string{"-p", dir + "/", "-c", confPath, "-e", filepath.Join(dir, "error.log")}
		p, err := startProc("nginx", bin, args, nil, filepath.Join(s.dir, "nginx.log"))
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return dialOK(port) }, nil
	})
	if err != nil {
		return err
	}
	s.nginx, s.nginxURL = p, fmt.Sprintf("http://127.0.0.1:%d", port)
	return nil
}

func dialOK(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 500*time.Millisecond)
	if err != nil {
		return err
	}
	return c.Close()
}

// buildGateway builds the gateway from the working tree. Other people edit the tree while
// the bench runs; a build that fails is retried a few times before giving up.
func buildGateway(ctx context.Context, root, out string, progress io.Writer) error {
	const attempts = 6
	for i := 1; ; i++ {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/assetgateway")
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if i == attempts || ctx.Err() != nil {
			return fmt.Errorf("go build ./cmd/assetgateway: %v\n%s", err, b)
		}
		fmt.Fprintf(progress, "go build ./cmd/assetgateway failed (attempt %d of %d; someone may be mid-edit), retrying in 10s:\n%s\n", i, attempts, b)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
}

// gatewayConfig is the gateway's configuration: Redis, one S3 alias on the bench's MinIO,
// defaults for everything else.
const gatewayConfig = `# Written by go run ./bench.
server:
  listen: "127.0.0.1:%[1]d"
  host: "http://127.0.0.1:%[1]d"
redis:
  addr: "%[2]s"
  key_prefix: "%[3]s"
control:
  tokens: ["%[4]s"]
credentials:
  minio:
    access_key: "%[5]s"
    secret_key: "%[6]s"
buckets:
  %[7]s:
    bucket: "%[8]s"
    endpoint: "%[9]s"
    credential: minio
    force_path_style: true
    direct_uploads: true
s3api:
  listen: "127.0.0.1:%[10]d"
  host: "http://127.0.0.1:%[10]d"
  secret: "bench-s3api-server-key-0123456789abcdef"
`

func (s *servers) startGateway(ctx context.Context) error {
	p, port, err := s.startWithPort(ctx, "assetgateway", func(port int) (*proc, func() error, error) {
		dport, err := testenv.FreePort()
		if err != nil {
			return nil, nil, err
		}
		s3port, err := testenv.FreePort()
		if err != nil {
			return nil, nil, err
		}
		s.gwS3URL = fmt.Sprintf("http://127.0.0.1:%d", s3port)
		cfg := fmt.Sprintf(gatewayConfig, port, s.redisAddr, keyPrefix, controlToken, accessKey, secretKey,
			bucketAlias, bucketName, s.minioURL, s3port)
		cfgPath := filepath.Join(s.dir, "gateway.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, nil, err
		}
		s.gwDebug = fmt.Sprintf("127.0.0.1:%d", dport)
		s.gwLogPath = filepath.Join(s.dir, "gateway.log")
		args := []string{"-config", cfgPath, "-log-level", "warn", "-log-format", "json", "-debug-addr", s.gwDebug}
		p, err := startProc("assetgateway", s.gwBin, args, nil, s.gwLogPath)
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", port)) }, nil
	})
	if err != nil {
		return err
	}
	s.gateway, s.gwURL = p, fmt.Sprintf("http://127.0.0.1:%d", port)
	return nil
}

// startCeiling runs this program again as the bare POST /token handler (see ceiling.go).
func (s *servers) startCeiling(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	p, port, err := s.startWithPort(ctx, "ceiling", func(port int) (*proc, func() error, error) {
		args := []string{"-ceiling-listen", fmt.Sprintf("127.0.0.1:%d", port), "-ceiling-redis", s.redisAddr}
		p, err := startProc("ceiling", self, args, nil, filepath.Join(s.dir, "ceiling.log"))
		if err != nil {
			return nil, nil, err
		}
		return p, func() error { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", port)) }, nil
	})
	if err != nil {
		return err
	}
	s.ceiling, s.ceilingURL = p, fmt.Sprintf("http://127.0.0.1:%d", port)
	return nil
}

// startRevProxy runs this program again as the bare httputil.ReverseProxy in front of MinIO
// (see revproxy.go); conns is the bench's -conns, which sizes its idle connections to MinIO.
func (s *servers) startRevProxy(ctx context.Context, conns int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	p, port, err := s.startWithPort(ctx, "revproxy", func(port int) (*proc, func() error, error) {
		args := []string{"-revproxy-listen", fmt.Sprintf("127.0.0.1:%d", port), "-revproxy-target", s.minioURL,
			"-revproxy-conns", fmt.Sprint(conns)}
		p, err := startProc("revproxy", self, args, nil, filepath.Join(s.dir, "revproxy.log"))
		if err != nil {
			return nil, nil, err
		}
		// MinIO's readiness probe, through the proxy: both are up.
		return p, func() error { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/minio/health/ready", port)) }, nil
	})
	if err != nil {
		return err
	}
	s.revproxy, s.revproxyURL = p, fmt.Sprintf("http://127.0.0.1:%d", port)
	return nil
}

func httpOK(url string) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}
