package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// Test objects in MinIO.
const (
	obj1K   = "bench/obj-1k"
	obj64M  = "bench/obj-64m"
	obj256M = "bench/obj-256m"
	obj1G   = "bench/obj-1g"
)

var objSizes = map[string]int64{obj1K: 1 << 10, obj64M: 64 << 20, obj256M: 256 << 20, obj1G: 1 << 30}

// mintBody is the POST /token body of the rate and memory scenarios; "000123" is rewritten
// with a counter on every request, so that records differ as real ones do.
const mintBody = `{"bucket":"assets","key":"videos/2024/demo-000123.mp4","method":"GET","max_hits":3,"filename":"demo.mp4"}`

// bench holds the clients and state the scenarios share.
type bench struct {
	ctx  context.Context
	o    options
	s    *servers
	rep  *report
	root string

	hc       *http.Client
	m        *minter
	s3       *s3.Client
	direct   *s3.PresignClient
	viaNginx *s3.PresignClient
	viaProxy *s3.PresignClient // through the bare reverse proxy
	rdb      *redis.Client

	getTok map[string]string // object key → unlimited GET token

	quietWaited time.Duration // total time spent in waitQuiet
	quietMissed int           // runs started above the threshold (budget spent)
	repeated    int           // runs measured again because other work disturbed them
	disturbed   int           // runs kept although disturbed (out of retries)
}

// measured runs one measurement (after waitQuiet) and, when the quiet gate is on and other
// work used more than twice the threshold during it, measures it again, at most twice. f
// returns the CPU use it measured (cpuGroup.end) and overwrites its results on every call.
func (b *bench) measured(f func() (map[string]float64, error)) error {
	for attempt := 0; ; attempt++ {
		b.waitQuiet()
		cpu, err := f()
		if err != nil || b.o.quiet <= 0 || cpu["other"] <= 2*b.o.quiet {
			return err
		}
		if attempt == 2 {
			b.disturbed++
			return nil
		}
		b.repeated++
		progress("other work used %.2f cores during the run: measuring it again", cpu["other"])
	}
}

// uploadRounds warms each mode up once, then measures it b.o.runs times, interleaved with
// the order rotated each round, each run through measured with the processes' CPU taken from
// the begin that one calls (once its untimed set-up is done) to its end. It returns the MB/s
// and the CPU use of every run, by mode; label starts the progress lines.
func (b *bench) uploadRounds(label string, modes []string, one func(mode string, begin func()) (float64, error)) (map[string][]float64, map[string][]map[string]float64, error) {
	for _, m := range modes { // warm-up
		if _, err := one(m, func() {}); err != nil {
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	res, cpu := map[string][]float64{}, map[string][]map[string]float64{}
	for round := range b.o.runs {
		for j := range modes {
			m := modes[(round+j)%len(modes)]
			var v float64
			var use map[string]float64
			err := b.measured(func() (map[string]float64, error) {
				g := b.cpuOf()
				var err error
				v, err = one(m, g.begin)
				use = g.end()
				return use, err
			})
			if err != nil {
				return nil, nil, err
			}
			cpu[m] = append(cpu[m], use)
			res[m] = append(res[m], v)
			progress("%s %-23s round %d/%d: %.0f MB/s", label, m, round+1, b.o.runs, v)
		}
	}
	return res, cpu, nil
}

// waitQuiet holds the next measured run until other work on the machine (busy CPU not
// started by the bench, the servers idle between runs) falls below o.quiet cores, within
// the run's overall budget.
func (b *bench) waitQuiet() {
	if b.o.quiet <= 0 {
		return
	}
	start := time.Now()
	defer func() { b.quietWaited += time.Since(start) }()
	announced := false
	for b.ctx.Err() == nil {
		load := otherLoad(400 * time.Millisecond)
		if load < b.o.quiet {
			return
		}
		if b.quietWaited+time.Since(start) > b.o.quietBudget {
			b.quietMissed++
			return
		}
		if !announced {
			progress("waiting for other work on the machine to calm down (%.2f cores busy)", load)
			announced = true
		}
		time.Sleep(600 * time.Millisecond)
	}
}

func newS3Client(endpoint string, hc *http.Client) *s3.Client {
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		HTTPClient:                 hc,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func newBench(ctx context.Context, o options, s *servers, rep *report, root string) (*bench, error) {
	hc := newHTTPClient()
	b := &bench{
		ctx: ctx, o: o, s: s, rep: rep, root: root,
		hc:     hc,
		m:      &minter{c: hc, baseURL: s.gwURL, control: controlToken},
		s3:     newS3Client(s.minioURL, hc),
		rdb:    redis.NewClient(&redis.Options{Addr: s.redisAddr, MaxRetries: -1}),
		getTok: map[string]string{},
	}
	b.direct = s3.NewPresignClient(b.s3)
	if s.nginxURL != "" {
		b.viaNginx = s3.NewPresignClient(newS3Client(s.nginxURL, hc))
	}
	if s.revproxyURL != "" {
		b.viaProxy = s3.NewPresignClient(newS3Client(s.revproxyURL, hc))
	}
	return b, nil
}

func (b *bench) close() { b.rdb.Close() }

// settings describes how the run was set up.
func (b *bench) settings(nginxBin string) []string {
	redisBin, _ := testenv.LookBin("redis-server")
	minioBin, _ := testenv.LookBin("minio")
	redisVer := strings.TrimSpace(cmdOutput("", redisBin, "--version"))
	if f := strings.Fields(redisVer); len(f) >= 3 {
		redisVer = strings.TrimPrefix(f[2], "v=")
	}
	vers := fmt.Sprintf("redis-server %s, MinIO %s", redisVer, minioVersion(minioBin))
	if nginxBin != "" {
		vers += ", " + strings.TrimSpace(strings.TrimPrefix(cmdOutput("", nginxBin, "-v"), "nginx version: "))
	}
	rev := strings.TrimSpace(cmdOutput(b.root, "git", "rev-parse", "--short", "HEAD"))
	if strings.TrimSpace(cmdOutput(b.root, "git", "status", "--porcelain", "--untracked-files=no")) != "" {
		rev += " plus uncommitted changes in the working tree"
	}
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		gogc = "unset (100)"
	}
	nginxNote := ""
	if nginxBin != "" {
		nginxNote = " nginx: a plain `proxy_pass` to MinIO with upstream keep-alive and Host passed on, with nginx's **stock** buffering (8 × 4 KiB buffers, up to 1 GiB of a response spooled to a temporary file), no access log — the peer a user would pick. `-nginx tuned` compares against hand-tuned buffering instead (8 × 64 KiB, no spooling)."
		if b.o.nginxTuned {
			nginxNote = " nginx: `proxy_pass` to MinIO with upstream keep-alive, Host passed on, `proxy_buffering on` with hand-tuned 8 × 64 KiB buffers and `proxy_max_temp_file_size 0` (large responses stream instead of being spooled to disk), no access log (`-nginx tuned`) — see bench/nginx.conf.tmpl."
		}
	}
	if nginxBin != "" {
		nginxNote += fmt.Sprintf(" revproxy: a bare `httputil.ReverseProxy` in this program, run as its own process, forwarding every request unchanged (Host passed on, so the presigned signature verifies) through a keep-alive Transport (MaxIdleConnsPerHost %d, no compression) — see bench/revproxy.go.", revproxyIdle(b.o.conns))
	}
	return []string{
		"Servers: " + vers + "; all on 127.0.0.1, MinIO's data in a temporary folder on the same disk." + nginxNote,
		fmt.Sprintf("Gateway: built from the working tree at %s with `go build`; Redis token store, one S3 alias on MinIO (path style, http), every other key at its default (part_size 8 MiB, part_concurrency 2, redis.pool_size 10 per CPU); started with `-log-level warn -log-format json -debug-addr 127.0.0.1:<port>`, so no access-log line is written (those are info) and logging does not dominate.", rev),
		fmt.Sprintf("GOMAXPROCS: bench (load generator) %d; gateway, MinIO, the bare reverse proxy and the POST /token ceiling: %s. GOGC %s everywhere. Redis is single-threaded; nginx `worker_processes auto` (%d).", runtime.GOMAXPROCS(0), gomaxprocsNote(), gogc, runtime.NumCPU()),
		"Load generator: in this program (see bench/README.md): rate scenarios use one keep-alive HTTP/1.1 connection per worker and a zero-allocation request loop, with every latency kept and exact (nearest-rank) percentiles; large transfers use net/http with 256 KiB buffers. On 2 cores it competes with the servers for CPU: the CPU columns show how much each process used.",
		fmt.Sprintf("Method: each measurement is repeated %d times (64 MiB GET: %d, 1 GiB GET: %d), interleaved — one run of every path, then the next round, the order rotated each round (A B C, B C A, C A B) — and the table shows medians. MB/s is 10^6 bytes per second.", b.o.runs, 3*b.o.runs, b.o.runs1G),
	}
}

// setup creates the bucket, uploads the objects the selected scenarios read and mints their
// tokens.
func (b *bench) setup() error {
	if _, err := b.s3.CreateBucket(b.ctx, &s3.CreateBucketInput{Bucket: aws.String(bucketName)}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	need := map[string]bool{}
	if b.o.selected("large-get") {
		need[obj64M], need[obj1G] = true, true
	}
	if b.o.selected("small-get") || b.o.selected("commands") {
		need[obj1K] = true
	}
	if b.o.selected("rss") {
		need[obj64M], need[obj1G] = true, true
		need[b.rssKey()] = true
	}
	for _, key := range []string{obj1K, obj64M, obj256M, obj1G} {
		if !need[key] {
			continue
		}
		u, err := b.presign(b.direct, http.MethodPut, key)
		if err != nil {
			return err
		}
		if _, _, err := upload(b.ctx, b.hc, u, objSizes[key], false); err != nil {
			return fmt.Errorf("upload %s: %w", key, err)
		}
		tok, err := b.m.getToken(b.ctx, key)
		if err != nil {
			return err
		}
		b.getTok[key] = tok
	}
	return nil
}

func (b *bench) rssKey() string {
	if b.o.rssSize == 64<<20 {
		return obj64M
	}
	return obj256M
}

// presign returns a presigned URL for key through pc (MinIO directly, or nginx).
func (b *bench) presign(pc *s3.PresignClient, method, key string) (string, error) {
	opt := s3.WithPresignExpires(6 * time.Hour)
	var (
		u   string
		err error
	)
	switch method {
	case http.MethodGet:
		r, e := pc.PresignGetObject(b.ctx, &s3.GetObjectInput{Bucket: aws.String(bucketName), Key: aws.String(key)}, opt)
		if e == nil {
			u = r.URL
		}
		err = e
	case http.MethodPut:
		r, e := pc.PresignPutObject(b.ctx, &s3.PutObjectInput{Bucket: aws.String(bucketName), Key: aws.String(key)}, opt)
		if e == nil {
			u = r.URL
		}
		err = e
	default:
		return "", fmt.Errorf("presign %s", method)
	}
	if err != nil {
		return "", fmt.Errorf("presign %s %s: %w", method, key, err)
	}
	return u, nil
}

// path is one way to the same object: through the gateway, the bare reverse proxy, nginx, or
// straight to MinIO.
type path struct {
	name string
	url  string
}

// getPaths returns the four ways to GET key, in the order the charts show them.
func (b *bench) getPaths(key string) ([]path, error) {
	paths := []path{{"gateway", b.s.gwURL + "/object/" + b.getTok[key]}}
	for _, p := range []struct {
		name string
		pc   *s3.PresignClient
	}{{"revproxy", b.viaProxy}, {"nginx", b.viaNginx}, {"direct", b.direct}} {
		u, err := b.presign(p.pc, http.MethodGet, key)
		if err != nil {
			return nil, err
		}
		paths = append(paths, path{p.name, u})
	}
	return paths, nil
}

// rawFor builds a rawRequest for a URL.
func rawFor(method, rawURL string, hdr []string, body []byte, want int) (rawRequest, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawRequest{}, err
	}
	return newRawRequest(method, u.Host, u.RequestURI(), hdr, body, want), nil
}

// cpuOf returns the CPU groups of the processes under test.
func (b *bench) cpuOf() *cpuGroup {
	g := &cpuGroup{}
	g.add("bench", os.Getpid())
	g.add("gateway", b.s.gateway.pid())
	g.add("MinIO", b.s.minio.pid())
	if b.s.nginx != nil {
		g.add("nginx", append([]int{b.s.nginx.pid()}, childPIDs(b.s.nginx.pid())...)...)
	}
	if b.s.revproxy != nil {
		g.add("revproxy", b.s.revproxy.pid())
	}
	if b.s.ceiling != nil {
		g.add("ceiling", b.s.ceiling.pid())
	}
	g.add("redis", b.s.redis.pid())
	return g
}

// gatewayLogSummary notes what the gateway logged (at warn and above) during the run.
func (b *bench) gatewayLogSummary() {
	data, err := os.ReadFile(b.s.gwLogPath)
	if err != nil {
		return
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		msg := "unparsed line"
		if i := strings.Index(line, `"msg":"`); i >= 0 {
			rest := line[i+7:]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				msg = rest[:j]
			}
		}
		counts[msg]++
	}
	if len(counts) == 0 {
		b.rep.notes = append(b.rep.notes, "The gateway logged nothing at warn level or above during the run.")
		return
	}
	var parts []string
	for _, m := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("`%s` × %d", m, counts[m]))
	}
	b.rep.notes = append(b.rep.notes, "Gateway log lines at warn level or above during the run: "+strings.Join(parts, ", ")+".")
}
