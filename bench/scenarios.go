package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	return []string{
		"Servers: " + vers + "; all on 127.0.0.1, MinIO's data in a temporary folder on the same disk." + nginxNote,
		fmt.Sprintf("Gateway: built from the working tree at %s with `go build`; Redis token store, one S3 alias on MinIO (path style, http), every other key at its default (part_size 8 MiB, part_concurrency 2, redis.pool_size 10 per CPU); started with `-log-level warn -log-format json -debug-addr 127.0.0.1:<port>`, so no access-log line is written (those are info) and logging does not dominate.", rev),
		fmt.Sprintf("GOMAXPROCS: bench (load generator) %d; gateway, MinIO and the POST /token ceiling: %s. GOGC %s everywhere. Redis is single-threaded; nginx `worker_processes auto` (%d).", runtime.GOMAXPROCS(0), gomaxprocsNote(), gogc, runtime.NumCPU()),
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

// path is one way to the same object: through the gateway, straight to MinIO, or nginx.
type path struct {
	name string
	url  string
}

// getPaths returns the three ways to GET key.
func (b *bench) getPaths(key string) ([]path, error) {
	direct, err := b.presign(b.direct, http.MethodGet, key)
	if err != nil {
		return nil, err
	}
	viaNginx, err := b.presign(b.viaNginx, http.MethodGet, key)
	if err != nil {
		return nil, err
	}
	return []path{
		{"gateway", b.s.gwURL + "/object/" + b.getTok[key]},
		{"direct", direct},
		{"nginx", viaNginx},
	}, nil
}

// ---- large GET ----

func (b *bench) largeGet() error {
	buf := make([]byte, 256<<10)
	cases := []struct {
		label, key string
		runs       int
	}{{"64 MiB", obj64M, 3 * b.o.runs}, {"1 GiB", obj1G, b.o.runs1G}} // a 64 MiB run takes ~50 ms: thrice the repeats
	var rows, detail [][]string
	cpu := map[string][]map[string]float64{} // "size path" → per run
	for _, c := range cases {
		size := objSizes[c.key]
		paths, err := b.getPaths(c.key)
		if err != nil {
			return err
		}
		redirTok, err := b.m.redirectToken(b.ctx, c.key)
		if err != nil {
			return err
		}
		// A redirect token: one round trip to the gateway (a hit, a presigned URL), then the
		// client follows the 307 straight to MinIO.
		paths = append(paths, path{"redirect", b.s.gwURL + "/object/" + redirTok})
		for _, p := range paths { // warm-up: connections, MinIO's page cache
			if _, err := download(b.ctx, b.hc, p.url, size, buf); err != nil {
				return fmt.Errorf("%s %s warm-up: %w", p.name, c.label, err)
			}
		}
		res := map[string][]float64{}
		for round := range c.runs {
			for j := range paths {
				p := paths[(round+j)%len(paths)]
				var (
					d   time.Duration
					use map[string]float64
				)
				err := b.measured(func() (map[string]float64, error) {
					g := b.cpuOf()
					g.begin()
					var err error
					d, err = download(b.ctx, b.hc, p.url, size, buf)
					use = g.end()
					return use, err
				})
				cpu[c.label+" "+p.name] = append(cpu[c.label+" "+p.name], use)
				if err != nil {
					return fmt.Errorf("%s %s: %w", p.name, c.label, err)
				}
				mbps := float64(size) / d.Seconds() / 1e6
				res[p.name] = append(res[p.name], mbps)
				progress("large GET %s %-7s round %d/%d: %.0f MB/s", c.label, p.name, round+1, c.runs, mbps)
			}
		}
		gw, di, ng, re := median(res["gateway"]), median(res["direct"]), median(res["nginx"]), median(res["redirect"])
		rd, rn := ratio(gw, di), ratio(gw, ng)
		rows = append(rows, []string{c.label, fmt.Sprintf("%.0f", gw), fmt.Sprintf("%.0f", di), fmt.Sprintf("%.0f", ng),
			fmt.Sprintf("%.2f", rd), fmt.Sprintf("%.2f", rn), fmt.Sprintf("%.0f", re), fmt.Sprintf("%.2f", ratio(re, di))})
		for _, p := range paths {
			runs := cpu[c.label+" "+p.name]
			detail = append(detail, []string{c.label, p.name, runsList(res[p.name], "%.0f"),
				cpuMedian(runs, "bench"), cpuMedian(runs, "gateway"), cpuMedian(runs, "MinIO"), cpuMedian(runs, "nginx"), cpuMedian(runs, "other")})
		}
		b.rep.addTarget("large GET "+c.label+": gateway / direct", fmt.Sprintf("%.2f", rd), "≥ 0.85", rd >= 0.85)
		b.rep.addTarget("large GET "+c.label+": gateway / nginx", fmt.Sprintf("%.2f", rn), "≥ 1.3", rn >= 1.3)
	}
	body := "One download at a time on a keep-alive connection, whole object, timed from sending the " +
		"request to the last byte; the client reads through a 256 KiB buffer and discards. Gateway: " +
		"`GET /object/<unlimited GET token>`; direct: a presigned GET URL on MinIO; nginx: a presigned " +
		"URL signed for nginx's address (nginx passes Host on); redirect: a token with `\"delivery\": " +
		"\"redirect\"`, whose 307 the client follows to a presigned URL (the time includes the round " +
		"trip to the gateway). One untimed warm-up download per path first.\n\n" +
		mdTable([]string{"object", "gateway MB/s", "direct MB/s", "nginx MB/s", "gateway/direct", "gateway/nginx", "redirect MB/s", "redirect/direct"}, rows) +
		"\nEvery run (MB/s, in the order measured), and the CPU cores each process used during the " +
		"downloads (medians; `other` is the machine's busy time not started by the bench):\n\n" +
		mdTable([]string{"object", "path", "MB/s of every run", "CPU bench", "CPU gateway", "CPU MinIO", "CPU nginx", "CPU other"}, detail)
	b.rep.addSection("Large GET (MB/s, medians)", body)

	key := obj64M
	return b.profile("large-get", "MiB downloaded", func(ctx context.Context, done *atomic.Int64) {
		for ctx.Err() == nil {
			// The transfer itself runs on b.ctx: ending the profile must not cut a download.
			if _, err := download(b.ctx, b.hc, b.s.gwURL+"/object/"+b.getTok[key], objSizes[key], buf); err == nil {
				done.Add(objSizes[key] >> 20)
			}
		}
	})
}

// ---- small GET ----

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
	if b.s.ceiling != nil {
		g.add("ceiling", b.s.ceiling.pid())
	}
	g.add("redis", b.s.redis.pid())
	return g
}

// rateRun is one measured rate run.
type rateRun struct {
	rps, p50, p99 float64 // req/s, ms, ms
	errors        int64
	firstErr      error
	cpu           map[string]float64
}

// runRate measures one rate run of rr, with CPU accounting of the processes under test.
func (b *bench) runRate(rr rawRequest) (rateRun, error) {
	var (
		res loadResult
		cpu map[string]float64
	)
	err := b.measured(func() (map[string]float64, error) {
		g := b.cpuOf()
		var err error
		res, err = runLoad(b.ctx, rr, loadOptions{
			conns: b.o.conns, warmup: b.o.warmup, window: b.o.window,
			onStart: g.begin, onEnd: func() { cpu = g.end() },
		})
		return cpu, err
	})
	if err != nil {
		return rateRun{}, err
	}
	if res.requests == 0 {
		return rateRun{}, fmt.Errorf("no successful request (%d errors, first: %v)", res.errors, res.firstErr)
	}
	return rateRun{
		rps:      res.rps(),
		p50:      float64(res.percentile(50)) / 1e6,
		p99:      float64(res.percentile(99)) / 1e6,
		errors:   res.errors,
		firstErr: res.firstErr,
		cpu:      cpu,
	}, nil
}

// rateTable renders the per-path medians of rate runs, with the CPU each process used.
func rateTable(names []string, runs map[string][]rateRun, procs []string) string {
	header := []string{"path", "req/s", "p50", "p99", "errors", "req/s of every run"}
	for _, p := range procs {
		header = append(header, "CPU "+p)
	}
	var rows [][]string
	for _, n := range names {
		rs := runs[n]
		var rps, p50, p99 []float64
		var errs int64
		for _, r := range rs {
			rps, p50, p99 = append(rps, r.rps), append(p50, r.p50), append(p99, r.p99)
			errs += r.errors
		}
		row := []string{n, fmt.Sprintf("%.0f", median(rps)), ms(median(p50)), ms(median(p99)), fmt.Sprint(errs), runsList(rps, "%.0f")}
		for _, p := range procs {
			var c []float64
			for _, r := range rs {
				c = append(c, r.cpu[p])
			}
			row = append(row, fmt.Sprintf("%.2f", median(c)))
		}
		rows = append(rows, row)
	}
	return mdTable(header, rows)
}

// cpuMedian formats the median CPU use of proc over runs.
func cpuMedian(runs []map[string]float64, proc string) string {
	var xs []float64
	for _, r := range runs {
		xs = append(xs, r[proc])
	}
	return fmt.Sprintf("%.2f", median(xs))
}

func summarize(runs []rateRun) (rps, p50, p99 float64) {
	var a, b, c []float64
	for _, r := range runs {
		a, b, c = append(a, r.rps), append(b, r.p50), append(c, r.p99)
	}
	return median(a), median(b), median(c)
}

func (b *bench) smallGet() error {
	paths, err := b.getPaths(obj1K)
	if err != nil {
		return err
	}
	reqs := map[string]rawRequest{}
	var names []string
	for _, p := range paths {
		rr, err := rawFor(http.MethodGet, p.url, nil, nil, http.StatusOK)
		if err != nil {
			return err
		}
		reqs[p.name] = rr
		names = append(names, p.name)
	}
	runs := map[string][]rateRun{}
	for round := range b.o.runs {
		for j := range names {
			n := names[(round+j)%len(names)]
			r, err := b.runRate(reqs[n])
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			if r.errors > 0 {
				b.rep.notes = append(b.rep.notes, fmt.Sprintf("small GET %s round %d: %d errors, first: %v", n, round+1, r.errors, r.firstErr))
			}
			runs[n] = append(runs[n], r)
			progress("small GET %-7s round %d/%d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d",
				n, round+1, b.o.runs, r.rps, r.p50, r.p99, r.errors)
		}
	}
	gwRPS, _, gwP99 := summarize(runs["gateway"])
	diRPS, _, diP99 := summarize(runs["direct"])
	ngRPS, _, _ := summarize(runs["nginx"])
	rr, rp := ratio(gwRPS, diRPS), ratio(gwP99, diP99)
	b.rep.addTarget("small GET 1 KiB: gateway / direct req/s", fmt.Sprintf("%.2f", rr), "≥ 0.75", rr >= 0.75)
	b.rep.addTarget("small GET 1 KiB: gateway / direct p99", fmt.Sprintf("%.2f", rp), "≤ 2", rp <= 2)
	body := fmt.Sprintf("1 KiB object, unlimited-hit token, %d keep-alive connections each sending its next "+
		"request as soon as the answer is in (closed loop), %s warm-up then %s measured per run. "+
		"Latency is from writing the request to the last byte of the answer. CPU columns: cores used on "+
		"average during the measured window (2.00 = both cores busy), medians over the runs; `other` is the "+
		"rest of the machine's busy time (anything not started by the bench), `steal` time the hypervisor "+
		"gave elsewhere.\n\n",
		b.o.conns, b.o.warmup, b.o.window) +
		rateTable(names, runs, []string{"bench", "gateway", "MinIO", "nginx", "redis", "other", "steal"}) +
		fmt.Sprintf("\ngateway/direct req/s %.2f, gateway/nginx req/s %.2f, gateway/direct p99 %.2f.\n", rr, ratio(gwRPS, ngRPS), rp)
	b.rep.addSection("Small GET (1 KiB, medians)", body)

	gw := reqs["gateway"]
	return b.profile("small-get", "request", func(ctx context.Context, done *atomic.Int64) {
		b.driveCounting(ctx, gw, done)
	})
}

// driveCounting sends rr with the usual connections until ctx ends, counting successes.
func (b *bench) driveCounting(ctx context.Context, rr rawRequest, done *atomic.Int64) {
	var wg sync.WaitGroup
	for range b.o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &rawConn{addr: rr.addr}
			defer c.close()
			req := slices.Clone(rr.req)
			var n uint64
			for ctx.Err() == nil {
				if rr.counterAt > 0 {
					n++
					putDigits(req[rr.counterAt:rr.counterAt+6], n)
				}
				status, err := c.do(req, rr.head)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if status == rr.want {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
}

// ---- PUT ----

func (b *bench) put() error {
	const size = 256 << 20
	direct, err := b.presign(b.direct, http.MethodPut, "bench/put-direct")
	if err != nil {
		return err
	}
	type mode struct {
		name    string
		chunked bool
		gateway bool
	}
	modes := []mode{{"gateway, Content-Length", false, true}, {"gateway, chunked", true, true}, {"direct, Content-Length", false, false}}
	one := func(m mode, ready func()) (float64, error) {
		u := direct
		if m.gateway {
			key := "bench/put-gw-cl"
			if m.chunked {
				key = "bench/put-gw-chunked"
			}
			tok, err := b.m.putToken(b.ctx, key) // minted outside the timed window
			if err != nil {
				return 0, err
			}
			u = b.s.gwURL + "/object/" + tok
		}
		ready()
		d, body, err := upload(b.ctx, b.hc, u, size, m.chunked)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", m.name, err)
		}
		if m.gateway {
			if err := checkUploadAnswer(body, size); err != nil {
				return 0, err
			}
		}
		return float64(size) / d.Seconds() / 1e6, nil
	}
	for _, m := range modes { // warm-up
		if _, err := one(m, func() {}); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	res := map[string][]float64{}
	cpu := map[string][]map[string]float64{}
	for round := range b.o.runs {
		for j := range modes {
			m := modes[(round+j)%len(modes)]
			var (
				v   float64
				use map[string]float64
			)
			err := b.measured(func() (map[string]float64, error) {
				g := b.cpuOf()
				var err error
				v, err = one(m, g.begin)
				use = g.end()
				return use, err
			})
			cpu[m.name] = append(cpu[m.name], use)
			if err != nil {
				return err
			}
			res[m.name] = append(res[m.name], v)
			progress("PUT 256 MiB %-23s round %d/%d: %.0f MB/s", m.name, round+1, b.o.runs, v)
		}
	}
	cl, ch, di := median(res[modes[0].name]), median(res[modes[1].name]), median(res[modes[2].name])
	rcl, rch := ratio(cl, di), ratio(ch, di)
	b.rep.addTarget("PUT 256 MiB Content-Length: gateway / direct", fmt.Sprintf("%.2f", rcl), "≥ 0.85", rcl >= 0.85)
	b.rep.addTarget("PUT 256 MiB chunked: gateway / direct (with length)", fmt.Sprintf("%.2f", rch), "≥ 0.7", rch >= 0.7)
	var rows [][]string
	for _, m := range modes {
		runs := cpu[m.name]
		rows = append(rows, []string{m.name, fmt.Sprintf("%.0f", median(res[m.name])), fmt.Sprintf("%.2f", ratio(median(res[m.name]), di)), runsList(res[m.name], "%.0f"),
			cpuMedian(runs, "bench"), cpuMedian(runs, "gateway"), cpuMedian(runs, "MinIO"), cpuMedian(runs, "other")})
	}
	body := "One 256 MiB upload at a time, timed from sending the request to the answer. Gateway: " +
		"`PUT /object/<token>` with a fresh one-upload PUT token per upload, minted before the timer " +
		"starts; the gateway sends a Content-Length body as one streaming PutObject and a chunked body " +
		"as a multipart upload (8 MiB parts, 2 in flight). Direct: a presigned PUT URL on MinIO **with " +
		"Content-Length** — MinIO (like S3) refuses a chunked PutObject without a length, so the " +
		"chunked gateway upload is compared against the direct upload with a length.\n\n" +
		mdTable([]string{"upload", "MB/s", "/ direct", "MB/s of every run", "CPU bench", "CPU gateway", "CPU MinIO", "CPU other"}, rows) +
		"\nCPU columns: cores used during the uploads (the token minting is outside), medians.\n"
	b.rep.addSection("PUT 256 MiB (MB/s, medians)", body)

	var perr error
	for _, chunked := range []bool{false, true} {
		name, key := "put-cl", "bench/prof-put-cl"
		if chunked {
			name, key = "put-chunked", "bench/prof-put-chunked"
		}
		err := b.profile(name, "MiB uploaded", func(ctx context.Context, done *atomic.Int64) {
			for ctx.Err() == nil {
				tok, err := b.m.putToken(b.ctx, key)
				if err != nil {
					return
				}
				if _, _, err := upload(b.ctx, b.hc, b.s.gwURL+"/object/"+tok, size, chunked); err == nil {
					done.Add(size >> 20)
				}
			}
		})
		perr = errors.Join(perr, err)
	}
	return perr
}

// ---- POST /token ----

func (b *bench) token() error {
	hdr := []string{"Authorization", "Bearer " + controlToken, "Content-Type", "application/json"}
	gw, err := rawFor(http.MethodPost, b.s.gwURL+"/token", hdr, []byte(mintBody), http.StatusCreated)
	if err != nil {
		return err
	}
	ceil, err := rawFor(http.MethodPost, b.s.ceilingURL+"/token", hdr, []byte(mintBody), http.StatusCreated)
	if err != nil {
		return err
	}
	reqs := map[string]rawRequest{"gateway": gw.withCounter("000123"), "ceiling": ceil.withCounter("000123")}
	names := []string{"gateway", "ceiling"}
	runs := map[string][]rateRun{}
	for round := range b.o.runs {
		for j := range names {
			n := names[(round+j)%len(names)]
			r, err := b.runRate(reqs[n])
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			if r.errors > 0 {
				b.rep.notes = append(b.rep.notes, fmt.Sprintf("POST /token %s round %d: %d errors, first: %v", n, round+1, r.errors, r.firstErr))
			}
			runs[n] = append(runs[n], r)
			progress("POST /token %-7s round %d/%d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d",
				n, round+1, b.o.runs, r.rps, r.p50, r.p99, r.errors)
		}
	}
	gwRPS, _, gwP99 := summarize(runs["gateway"])
	ceRPS, _, ceP99 := summarize(runs["ceiling"])
	rr := ratio(gwRPS, ceRPS)
	b.rep.addTarget("POST /token: gateway / bare-handler ceiling req/s", fmt.Sprintf("%.2f", rr), "≥ 0.7", rr >= 0.7)
	body := fmt.Sprintf("Body `%s` (the key's digits change on every request), %d keep-alive connections, "+
		"%s warm-up then %s measured per run. Ceiling: a bare net/http handler in this program, run "+
		"as its own process, that decodes the same JSON (unknown fields refused), makes a random token, "+
		"writes the record with one `HSET` (7 fields, no expiry, no hashing of the token) through "+
		"go-redis with default settings, and answers the same JSON shape with 201.\n\n",
		mintBody, b.o.conns, b.o.warmup, b.o.window) +
		rateTable(names, runs, []string{"bench", "gateway", "ceiling", "redis", "other", "steal"}) +
		fmt.Sprintf("\ngateway/ceiling req/s %.2f, p99 %.2f ms vs %.2f ms (%.2f×).\n", rr, gwP99, ceP99, ratio(gwP99, ceP99))
	b.rep.addSection("POST /token (medians)", body)

	g := reqs["gateway"]
	return b.profile("token", "token minted", func(ctx context.Context, done *atomic.Int64) {
		b.driveCounting(ctx, g, done)
	})
}

// ---- gateway memory ----

func (b *bench) rss() error {
	pid := b.s.gateway.pid()
	buf := make([]byte, 256<<10)
	var rows [][]string

	// Single downloads: the peak must not depend on the object's size.
	peaks := map[string]int64{}
	for _, key := range []string{obj64M, obj1G} {
		url := b.s.gwURL + "/object/" + b.getTok[key]
		var peak int64
		for run := range 2 {
			before, _, err := memStatus(pid)
			if err != nil {
				return err
			}
			if err := resetPeak(pid); err != nil {
				return fmt.Errorf("reset VmHWM: %w", err)
			}
			if _, err := download(b.ctx, b.hc, url, objSizes[key], buf); err != nil {
				return err
			}
			_, hwm, err := memStatus(pid)
			if err != nil {
				return err
			}
			peak = max(peak, hwm)
			label := "1 GiB"
			if key == obj64M {
				label = "64 MiB"
			}
			rows = append(rows, []string{fmt.Sprintf("one GET of %s (run %d)", label, run+1), mib(before), mib(hwm), "–", "–"})
		}
		peaks[key] = peak
	}
	grow := peaks[obj1G] - peaks[obj64M]
	allowed := max(int64(8<<20), peaks[obj64M]/10)
	b.rep.addTarget("gateway RSS does not grow with object size (peak, one GET of 1 GiB vs 64 MiB)",
		fmt.Sprintf("%s vs %s", mib(peaks[obj1G]), mib(peaks[obj64M])),
		"1 GiB peak ≤ 64 MiB peak + max(8 MiB, 10 %)", grow <= allowed)

	size := b.o.rssSize
	label := fmt.Sprintf("%d MiB", size>>20)

	// 50 concurrent downloads.
	const nGet = 50
	url := b.s.gwURL + "/object/" + b.getTok[b.rssKey()]
	row, err := b.concurrently(pid, fmt.Sprintf("%d concurrent GETs of %s", nGet, label), nGet, func(ctx context.Context, i int) (int64, error) {
		buf := make([]byte, 256<<10)
		_, err := download(ctx, b.hc, url, size, buf)
		return size, err
	})
	if err != nil {
		return err
	}
	rows = append(rows, row.cells)
	b.rep.addTarget(fmt.Sprintf("gateway peak RSS, %d concurrent %s GETs", nGet, label), mib(row.peak), "≤ 150 MiB", row.peak <= 150<<20)

	// 10 concurrent chunked uploads, one token each.
	const nPut = 10
	toks := make([]string, nPut)
	for i := range toks {
		if toks[i], err = b.m.putToken(b.ctx, fmt.Sprintf("bench/rss-put-%02d", i)); err != nil {
			return err
		}
	}
	row, err = b.concurrently(pid, fmt.Sprintf("%d concurrent chunked PUTs of %s", nPut, label), nPut, func(ctx context.Context, i int) (int64, error) {
		_, body, err := upload(ctx, b.hc, b.s.gwURL+"/object/"+toks[i], size, true)
		if err == nil {
			err = checkUploadAnswer(body, size)
		}
		return size, err
	})
	if err != nil {
		return err
	}
	rows = append(rows, row.cells)
	b.rep.addTarget(fmt.Sprintf("gateway peak RSS, %d concurrent chunked %s PUTs", nPut, label), mib(row.peak), "≤ 150 MiB", row.peak <= 150<<20)

	body := "Resident memory of the gateway process from /proc/<pid>/status: VmHWM (the kernel's peak, " +
		"reset with `/proc/<pid>/clear_refs` = 5 just before each step) and VmRSS polled every 20 ms. " +
		"`RSS before` is the resident set left over from earlier steps (the Go runtime returns freed " +
		"memory to the kernel only gradually). Chunked uploads are multipart uploads with the default " +
		"8 MiB parts, 2 in flight per upload.\n\n" +
		mdTable([]string{"step", "RSS before", "peak (VmHWM)", "max sampled VmRSS", "aggregate MB/s"}, rows)
	b.rep.addSection("Gateway memory (RSS)", body)
	return nil
}

type concRow struct {
	peak  int64
	cells []string
}

// concurrently runs n transfers at once and measures the gateway's memory meanwhile.
func (b *bench) concurrently(pid int, label string, n int, f func(ctx context.Context, i int) (int64, error)) (concRow, error) {
	b.waitQuiet()
	before, _, err := memStatus(pid)
	if err != nil {
		return concRow{}, err
	}
	if err := resetPeak(pid); err != nil {
		return concRow{}, fmt.Errorf("reset VmHWM: %w", err)
	}
	sampler := startRSSSampler(pid, 20*time.Millisecond)
	start := time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		bytes int64
		errs  []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := f(b.ctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			bytes += m
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sampled := sampler.finish()
	_, hwm, err := memStatus(pid)
	if err != nil {
		return concRow{}, err
	}
	if len(errs) > 0 {
		return concRow{}, fmt.Errorf("%s: %d of %d failed, first: %w", label, len(errs), n, errs[0])
	}
	progress("%s: peak RSS %s (sampled %s), %.0f MB/s aggregate", label, mib(hwm), mib(sampled), float64(bytes)/elapsed.Seconds()/1e6)
	return concRow{peak: hwm, cells: []string{label, mib(before), mib(hwm), mib(sampled),
		fmt.Sprintf("%.0f", float64(bytes)/elapsed.Seconds()/1e6)}}, nil
}

// ---- Redis commands per request ----

func (b *bench) commands() error {
	n, nPut := 1000, 200
	if b.o.quick {
		n, nPut = 300, 50
	}
	tok := b.getTok[obj1K]
	getReq, err := rawFor(http.MethodGet, b.s.gwURL+"/object/"+tok, nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	headReq, err := rawFor(http.MethodHead, b.s.gwURL+"/object/"+tok, nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	putToks := make([]string, nPut+5)
	for i := range putToks {
		if putToks[i], err = b.m.putToken(b.ctx, fmt.Sprintf("bench/cmd-put-%03d", i)); err != nil {
			return err
		}
	}
	mon, err := startMonitor(b.s.redisAddr)
	if err != nil {
		return err
	}
	defer mon.close()

	sequential := func(rr rawRequest, count int) error {
		res, err := runLoad(b.ctx, rr, loadOptions{conns: 1, total: int64(count)})
		if err != nil {
			return err
		}
		if res.errors > 0 || res.requests != int64(count) {
			return fmt.Errorf("%d of %d requests failed, first: %v", res.errors, count, res.firstErr)
		}
		return nil
	}
	putN := func(toks []string) error {
		for _, t := range toks {
			_, body, err := upload(b.ctx, b.hc, b.s.gwURL+"/object/"+t, 1<<10, false)
			if err != nil {
				return err
			}
			if err := checkUploadAnswer(body, 1<<10); err != nil {
				return err
			}
		}
		return nil
	}
	kinds := []struct {
		name   string
		count  int
		warm   func() error
		do     func() error
		target bool
	}{
		{"GET (happy path)", n, func() error { return sequential(getReq, 20) }, func() error { return sequential(getReq, n) }, true},
		{"HEAD", n, func() error { return sequential(headReq, 20) }, func() error { return sequential(headReq, n) }, true},
		{"PUT (Content-Length, 1 KiB)", nPut, func() error { return putN(putToks[:5]) }, func() error { return putN(putToks[5:]) }, false},
	}
	var rows [][]string
	for _, k := range kinds {
		if err := k.warm(); err != nil { // loads the scripts, fills the pools
			return fmt.Errorf("%s warm-up: %w", k.name, err)
		}
		m0 := mon.snapshot()
		s0, err := commandStats(b.ctx, b.rdb)
		if err != nil {
			return err
		}
		if err := k.do(); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		m1 := mon.snapshot()
		s1, err := commandStats(b.ctx, b.rdb)
		if err != nil {
			return err
		}
		md, sd := delta(m0, m1), delta(s0, s1)
		delete(sd, "info") // the bench's own INFO commandstats
		per := func(x int64) float64 { return float64(x) / float64(k.count) }
		var trips int64
		var tripCmds, luaCmds, otherCmds []string
		for key, v := range md {
			class, cmd, _ := strings.Cut(key, " ")
			switch class {
			case "token":
				trips += v
				tripCmds = append(tripCmds, fmt.Sprintf("%s %.2f", cmd, per(v)))
			case "lua":
				luaCmds = append(luaCmds, fmt.Sprintf("%s %.2f", cmd, per(v)))
			case "lua-other":
				otherCmds = append(otherCmds, fmt.Sprintf("%s %d (in a script)", cmd, v))
			default:
				if cmd != "info" {
					otherCmds = append(otherCmds, fmt.Sprintf("%s %d", cmd, v))
				}
			}
		}
		var total int64
		var stats []string
		for cmd, v := range sd {
			total += v
			stats = append(stats, fmt.Sprintf("%s %.3f", cmd, per(v)))
		}
		for _, l := range [][]string{tripCmds, luaCmds, otherCmds, stats} {
			slices.Sort(l)
		}
		rows = append(rows, []string{k.name, fmt.Sprint(k.count), fmt.Sprintf("%.3f", per(trips)), strings.Join(tripCmds, ", "),
			strings.Join(luaCmds, ", "), fmt.Sprintf("%.3f: %s", per(total), strings.Join(stats, ", ")), strings.Join(otherCmds, ", ")})
		progress("commands %s: %.3f round trips per request, commandstats %.3f per request", k.name, per(trips), per(total))
		if k.target {
			x := per(trips)
			b.rep.addTarget("Redis round trips per "+strings.Fields(k.name)[0]+" /object", fmt.Sprintf("%.3f", x), "1", x > 0.995 && x < 1.005)
		}
	}
	body := "Counted two ways while the gateway serves the requests one after another on one keep-alive " +
		"connection (after a short warm-up that loads the Lua scripts): `INFO commandstats` before and " +
		"after (what Redis executed — it counts the commands a Lua script runs, and the webhook " +
		"queue's background polling, as well as the EVALSHA itself), and `MONITOR`, which tells the " +
		"commands a client sent from those a script ran. **Round trips** are the commands a client sent " +
		"about a token record (`" + keyPrefix + "t:…`/`" + keyPrefix + "r:…` keys): what the target counts. PUT round trips: " +
		"the consume script and the uploaded mark.\n\n" +
		mdTable([]string{"request", "N", "round trips / request", "sent by the gateway (per request)", "run inside scripts (per request)", "INFO commandstats delta / request", "other clients' commands in the window (total)"}, rows)
	b.rep.addSection("Redis commands per /object request", body)
	return nil
}

// ---- Redis memory per token ----

func (b *bench) memory() error {
	ctx := b.ctx
	// Remove the records earlier scenarios minted, so that they neither count nor change the
	// size of Redis's key tables under the measurement.
	removed := 0
	for _, pattern := range []string{keyPrefix + "t:*", keyPrefix + "r:*", "ceil:t:*"} {
		it := b.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		for it.Next(ctx) {
			batch = append(batch, it.Val())
			if len(batch) == 1000 {
				if err := b.rdb.Unlink(ctx, batch...).Err(); err != nil {
					return err
				}
				removed += len(batch)
				batch = batch[:0]
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := b.rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			removed += len(batch)
		}
	}
	time.Sleep(2 * time.Second) // lazy frees and table shrinking run in Redis's cron
	keys0, err := b.rdb.DBSize(ctx).Result()
	if err != nil {
		return err
	}
	mem0, err := infoInt(ctx, b.rdb, "memory", "used_memory")
	if err != nil {
		return err
	}
	hdr := []string{"Authorization", "Bearer " + controlToken, "Content-Type", "application/json"}
	rr, err := rawFor(http.MethodPost, b.s.gwURL+"/token", hdr, []byte(mintBody), http.StatusCreated)
	if err != nil {
		return err
	}
	b.waitQuiet()
	progress("minting %d tokens through POST /token", b.o.tokens)
	res, err := runLoad(ctx, rr.withCounter("000123"), loadOptions{conns: b.o.conns, total: int64(b.o.tokens)})
	if err != nil {
		return err
	}
	if res.errors > 0 {
		return fmt.Errorf("%d of %d mints failed, first: %v", res.errors, b.o.tokens, res.firstErr)
	}
	time.Sleep(time.Second)
	keys1, err := b.rdb.DBSize(ctx).Result()
	if err != nil {
		return err
	}
	mem1, err := infoInt(ctx, b.rdb, "memory", "used_memory")
	if err != nil {
		return err
	}
	per := float64(mem1-mem0) / float64(res.requests)

	// One record, for the shape of the cost.
	var sample string
	keys, _, err := b.rdb.Scan(ctx, 0, keyPrefix+"t:*", 100).Result()
	if err == nil && len(keys) > 0 {
		k := keys[0]
		usage, _ := b.rdb.MemoryUsage(ctx, k, 0).Result()
		enc, _ := b.rdb.ObjectEncoding(ctx, k).Result()
		fields, _ := b.rdb.HGetAll(ctx, k).Result()
		names := make([]string, 0, len(fields))
		data := 0
		for f, v := range fields {
			names = append(names, f)
			data += len(f) + len(v)
		}
		slices.Sort(names)
		sample = fmt.Sprintf("One record: key `%s` (%d bytes), a hash with %d fields (%s) holding %d bytes of "+
			"field names and values, encoding `%s`, with a TTL; `MEMORY USAGE` says %d bytes (key, value and "+
			"allocator overhead, without the main and expires table entries).",
			redactKey(k), len(k), len(fields), strings.Join(names, " "), data, enc, usage)
	}
	b.rep.addTarget("Redis memory per token", fmt.Sprintf("%.0f B", per), "≤ 250 B", per <= 250)
	rows := [][]string{{
		fmt.Sprint(res.requests), fmt.Sprintf("%.0f/s", float64(res.requests)/res.elapsed.Seconds()),
		fmt.Sprint(keys0), fmt.Sprint(keys1), mib(mem0), mib(mem1), fmt.Sprintf("%.1f", per),
	}}
	body := fmt.Sprintf("Tokens minted through the gateway's `POST /token` (body `%s`, the digits changing "+
		"every time; %d connections), after removing the records earlier scenarios left (%d keys). "+
		"Bytes per token = change of `used_memory` (`INFO memory`) / tokens minted, measured, not "+
		"extrapolated; it includes each key's share of Redis's main and expires hash tables.\n\n",
		mintBody, b.o.conns, removed) +
		mdTable([]string{"tokens minted", "mint rate", "keys before", "keys after", "used_memory before", "after", "bytes / token"}, rows)
	if sample != "" {
		body += "\n" + sample + "\n"
	}
	b.rep.addSection("Redis memory per token", body)
	return nil
}

// redactKey shortens a record key for the report.
func redactKey(k string) string {
	if i := strings.IndexByte(k, '{'); i > 0 && len(k) > i+8 {
		return k[:i+5] + "…}"
	}
	return k
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
