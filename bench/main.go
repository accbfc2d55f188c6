// Command bench measures AssetGateway against talking to the bucket directly, against a bare
// httputil.ReverseProxy and against nginx in front of the same bucket, in one run on
// loopback, and writes the tables and charts the performance issues ask for. See
// bench/README.md.
//
//	go run ./bench            # the full run, a few minutes; writes bench/results/<date>.md
//	go run ./bench -quick     # a smoke run of about a minute; writes bench/tmp/<date>.md
//	go run ./bench -only small-get,token
//
// It starts redis-server, MinIO, nginx, the bare reverse proxy and the gateway (built from
// the working tree), runs the scenarios interleaved, and exits non-zero only when it could
// not run — never because a number missed its target.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// scenarios, in the order a full run takes them. rss comes before the uploads of put, so that
// its single downloads start from a small resident set; memory goes last: it leaves a
// million tokens in Redis.
var scenarios = []string{"large-get", "small-get", "rss", "put", "tus", "uppy", "s3api", "token", "commands", "memory"}

// options are the command-line settings, resolved for the mode (full or -quick).
type options struct {
	quick       bool
	only        []string
	runs        int           // repeats of each interleaved measurement
	runs1G      int           // repeats of the 1 GiB download
	window      time.Duration // measured window of a rate run
	warmup      time.Duration // warm-up before each rate run
	conns       int           // connections of rate runs
	tokens      int           // tokens minted for the Redis memory measurement
	rssSize     int64         // object size of the concurrency scenarios
	profileSecs int           // length of each profile; 0: no profiles
	out         string        // folder for the report and profiles
	keep        bool          // keep the temporary folder (server logs, data)
	nginxTuned  bool          // nginx with hand-tuned buffering instead of a plain proxy_pass
	label       string        // a word for the file names after the date ("" for none)
	quiet       float64       // before each measured run, wait for other work below this many cores; 0: don't
	quietBudget time.Duration // the most the whole run waits for quiet
}

func (o *options) selected(s string) bool { return len(o.only) == 0 || slices.Contains(o.only, s) }

// variant names a run that is not the full default one, for its report's file name:
// "" for the full run, else e.g. "-quick", "-nginx-tuned-large-get", "-before-small-get".
func (o *options) variant() string {
	v := ""
	if o.label != "" {
		v += "-" + o.label
	}
	if o.quick {
		v += "-quick"
	}
	if o.nginxTuned {
		v += "-nginx-tuned"
	}
	if len(o.only) > 0 {
		v += "-" + strings.Join(o.only, "-")
	}
	return v
}

// internalMode holds the flags with which the bench starts itself as a helper process.
type internalMode struct {
	ceilingListen, ceilingRedis    string // the bare POST /token handler (ceiling.go)
	revproxyListen, revproxyTarget string // the bare httputil.ReverseProxy (revproxy.go)
	revproxyConns                  int
}

// serve runs the helper process the flags ask for; ok is false when none was asked for.
func (m internalMode) serve() (ok bool, err error) {
	switch {
	case m.ceilingListen != "":
		return true, serveCeiling(m.ceilingListen, m.ceilingRedis)
	case m.revproxyListen != "":
		return true, serveRevProxy(m.revproxyListen, m.revproxyTarget, m.revproxyConns)
	}
	return false, nil
}

// outDir is the folder for the report: -out, else bench/results for the full default run and
// bench/tmp (git-ignored) for any other.
func (o *options) outDir(root string) string {
	switch {
	case o.out != "":
		return o.out
	case !o.quick && len(o.only) == 0 && !o.nginxTuned:
		return filepath.Join(root, "bench", "results")
	}
	return filepath.Join(root, "bench", "tmp")
}

func main() {
	o, helper, usage := parseFlags()
	if ok, err := helper.serve(); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if usage != "" {
		fmt.Fprintln(os.Stderr, "bench:", usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// parseFlags reads the command line into options resolved for the mode (full or -quick), the
// helper-process flags, and a usage problem ("" when there is none). It is longer than the
// house limit because it is one flag per line followed by their defaults per mode: split, the
// defaults would sit away from the flags they belong to.
func parseFlags() (options, internalMode, string) {
	var (
		quick       = flag.Bool("quick", false, "smoke run of about a minute: fewer and shorter runs, 100k tokens, 64 MiB objects for the concurrency scenarios")
		only        = flag.String("only", "", "comma-separated scenarios to run: "+strings.Join(scenarios, ","))
		runs        = flag.Int("runs", 0, "repeats of each interleaved measurement (default 5, quick 2)")
		runs1G      = flag.Int("runs-1g", 0, "repeats of the 1 GiB download (default 3, quick 1)")
		duration    = flag.Duration("duration", 0, "measured window of each small-GET and POST /token run (default 4s, quick 1.5s)")
		warmup      = flag.Duration("warmup", 0, "warm-up before each small-GET and POST /token run (default 1s, quick 500ms)")
		conns       = flag.Int("conns", 50, "concurrent keep-alive connections of the small-GET and POST /token runs")
		tokens      = flag.Int("tokens", 0, "tokens minted for the Redis memory measurement (default 1000000, quick 100000)")
		profileSecs = flag.Int("profile-seconds", -1, "length of each CPU/alloc profile; 0 turns profiling off (default 8, quick 2)")
		out         = flag.String("out", "", "folder for <date>.md, the charts and the profiles (default bench/results for a full run, bench/tmp otherwise)")
		label       = flag.String("label", "", "a word put into the file names after the date, e.g. before: <date>-before-….md")
		keep        = flag.Bool("keep", false, "keep the temporary folder with the servers' logs and data")
		quiet       = flag.Float64("quiet", -1, "before each measured run, wait until other work on the machine uses fewer cores than this (0: never wait; default 0.25, quick 0)")
		quietBudget = flag.Duration("quiet-budget", 10*time.Minute, "the longest the whole run waits for -quiet")
		nginxMode   = flag.String("nginx", "stock", "nginx buffering: stock (a plain proxy_pass with nginx's defaults: the peer the table compares against, as issue 4 asks) or tuned (8 x 64 KiB buffers, no spooling to disk)")
		helper      internalMode
	)
	// Internal: the bench starts itself with these to serve the POST /token ceiling and the
	// bare reverse proxy.
	flag.StringVar(&helper.ceilingListen, "ceiling-listen", "", "internal: serve the bare POST /token handler on this address")
	flag.StringVar(&helper.ceilingRedis, "ceiling-redis", "", "internal: Redis address of the bare handler")
	flag.StringVar(&helper.revproxyListen, "revproxy-listen", "", "internal: serve the bare httputil.ReverseProxy on this address")
	flag.StringVar(&helper.revproxyTarget, "revproxy-target", "", "internal: the MinIO URL the bare reverse proxy forwards to")
	flag.IntVar(&helper.revproxyConns, "revproxy-conns", 0, "internal: the bench's -conns, for the bare reverse proxy's idle connections to MinIO")
	flag.Parse()

	o := options{quick: *quick, conns: *conns, keep: *keep, nginxTuned: *nginxMode == "tuned", out: *out, label: *label}
	pick := func(v, full, q int) int {
		switch {
		case v > 0:
			return v
		case o.quick:
			return q
		}
		return full
	}
	o.runs = pick(*runs, 5, 2)
	o.runs1G = pick(*runs1G, 3, 1)
	pickDur := func(v, full, q time.Duration) time.Duration {
		switch {
		case v > 0:
			return v
		case o.quick:
			return q
		}
		return full
	}
	o.window = pickDur(*duration, 4*time.Second, 1500*time.Millisecond)
	o.warmup = pickDur(*warmup, time.Second, 500*time.Millisecond)
	o.tokens = pick(*tokens, 1_000_000, 100_000)
	o.profileSecs = *profileSecs
	if o.profileSecs < 0 {
		o.profileSecs = pick(0, 8, 2)
	}
	o.quiet, o.quietBudget = *quiet, *quietBudget
	if o.quiet < 0 {
		o.quiet = 0.25
		if o.quick {
			o.quiet = 0
		}
	}
	o.rssSize = 256 << 20
	if o.quick {
		o.rssSize = 64 << 20
	}
	switch {
	case *nginxMode != "tuned" && *nginxMode != "stock":
		return o, helper, "-nginx wants tuned or stock"
	case o.conns <= 0:
		return o, helper, "-conns must be positive"
	case strings.ContainsAny(o.label, "/\\ ") || strings.HasPrefix(o.label, "."):
		return o, helper, "-label wants a plain word for file names"
	}
	if *only != "" {
		for _, s := range strings.Split(*only, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(scenarios, s) {
				return o, helper, fmt.Sprintf("unknown scenario %q; want some of %s", s, strings.Join(scenarios, ","))
			}
			o.only = append(o.only, s)
		}
	}
	return o, helper, ""
}

// errScenarios means the run finished but some scenario could not be measured.
var errScenarios = errors.New("some scenarios could not run (see the report)")

func run(ctx context.Context, o options) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	o.out = o.outDir(root)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	needNginx := o.selected("large-get") || o.selected("small-get")
	var nginxBin string
	if needNginx {
		if nginxBin, err = findNginx(); err != nil {
			return err
		}
	}

	rep := &report{
		date:    time.Now().Format("2006-01-02"),
		command: "go run ./bench " + quoteArgs(os.Args[1:]),
		started: time.Now(),
	}
	rep.command = strings.TrimSpace(rep.command)

	dir, err := os.MkdirTemp("", "ag-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		progress("keeping the temporary folder %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	s := &servers{dir: dir, gwBin: filepath.Join(dir, "assetgateway")}
	defer s.stopAll()

	loadBefore := otherLoad(3 * time.Second)
	progress("other work on the machine: %.2f cores busy before the run", loadBefore)
	if loadBefore > 0.25 {
		progress("warning: the machine is busy with other work; the ratios (measured interleaved) hold up better than the absolute numbers")
	}
	progress("building the gateway from the working tree")
	if err := buildGateway(ctx, root, s.gwBin, os.Stderr); err != nil {
		return err
	}
	if err := startServers(ctx, o, s, nginxBin); err != nil {
		return err
	}

	b, err := newBench(ctx, o, s, rep, root)
	if err != nil {
		return err
	}
	defer b.close()
	rep.machine = machineFacts(root)
	rep.settings = b.settings(nginxBin)

	progress("uploading the test objects to MinIO")
	if err := b.setup(); err != nil {
		return err
	}
	b.runScenarios()
	rep.settings = append(rep.settings, b.loadNotes(loadBefore)...)
	if ctx.Err() != nil {
		rep.failures = append(rep.failures, "interrupted: "+ctx.Err().Error())
	}

	md := rep.markdown()
	fmt.Println(md)
	path := filepath.Join(o.out, rep.date+o.variant()+".md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	progress("wrote %s", path)
	if len(rep.failures) > 0 {
		return errScenarios
	}
	return nil
}

// runScenarios runs the selected scenarios in the order of scenarios; one that fails is
// noted in the report and the next one runs.
func (b *bench) runScenarios() {
	steps := map[string]func() error{
		"large-get": b.largeGet,
		"small-get": b.smallGet,
		"put":       b.put,
		"tus":       b.tus, // scenario_tus.go
		"uppy":      b.uppy,
		"s3api":     b.s3api, // s3api.go
		"token":     b.token,
		"rss":       b.rss,
		"commands":  b.commands,
		"memory":    b.memory,
	}
	for _, name := range scenarios {
		if !b.o.selected(name) {
			continue
		}
		if b.ctx.Err() != nil {
			break
		}
		progress("== %s", name)
		if err := steps[name](); err != nil {
			progress("%s failed: %v", name, err)
			b.rep.failures = append(b.rep.failures, fmt.Sprintf("%s: %v", name, err))
		}
	}
	b.gatewayLogSummary()
}

// loadNotes says how other work on the machine touched the run: the quiet gate's waits and
// repeats, and the load before and after.
func (b *bench) loadNotes(loadBefore float64) []string {
	var out []string
	if o := b.o; o.quiet > 0 {
		out = append(out, fmt.Sprintf("Quiet gate (`-quiet %.2f`): before each measured run the bench waited until other work used fewer than %.2f cores (sampled over 0.4 s); it waited %s in all, and %d runs started without quiet because the %s budget was spent. A run during which other work used more than %.2f cores was measured again (at most twice): %d runs were repeated, %d kept although disturbed.", o.quiet, o.quiet, b.quietWaited.Round(time.Second), b.quietMissed, o.quietBudget, 2*o.quiet, b.repeated, b.disturbed))
	}
	return append(out, fmt.Sprintf("Other work on the machine (busy CPU not started by the bench, from /proc/stat): %.2f cores in 3 s before the run, %.2f cores in 3 s after it (the servers idle). The CPU columns below show it during each measurement.", loadBefore, otherLoad(3*time.Second)))
}

// startServers starts Redis, MinIO, the gateway and, when the selected scenarios compare
// against them, nginx and the bare reverse proxy (GETs) or the POST /token ceiling (token).
func startServers(ctx context.Context, o options, s *servers, nginxBin string) error {
	peers := ""
	if nginxBin != "" {
		peers = ", nginx, the bare reverse proxy"
	}
	progress("starting redis-server, MinIO%s, the gateway", peers)
	if err := s.startRedis(ctx); err != nil {
		return err
	}
	if err := s.startMinIO(ctx); err != nil {
		return err
	}
	if nginxBin != "" {
		var port int
		if _, err := fmt.Sscanf(s.minioURL, "http://127.0.0.1:%d", &port); err != nil {
			return err
		}
		if err := s.startNginx(ctx, nginxBin, port, !o.nginxTuned); err != nil {
			return err
		}
		if err := s.startRevProxy(ctx, o.conns); err != nil {
			return err
		}
	}
	if err := s.startGateway(ctx); err != nil {
		return err
	}
	if o.selected("token") {
		return s.startCeiling(ctx)
	}
	return nil
}

// repoRoot finds the module root from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/assetgateway/assetgateway\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the bench from inside the assetgateway repository (go run ./bench)")
		}
		dir = parent
	}
}

var startTime = time.Now()

// progress prints a timestamped line to stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(startTime).Seconds(), fmt.Sprintf(format, args...))
}

// gomaxprocsNote says what GOMAXPROCS the child processes run with.
func gomaxprocsNote() string {
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return "GOMAXPROCS=" + v + " (from the environment)"
	}
	return fmt.Sprintf("GOMAXPROCS unset: the Go default, %d here", runtime.GOMAXPROCS(0))
}

// otherLoad returns how many cores the machine kept busy over d beyond this process (servers
// the bench started count too; they are idle when this is called).
func otherLoad(d time.Duration) float64 {
	busy0, _, err := systemCPU()
	if err != nil {
		return 0
	}
	self0, _ := cpuTime(os.Getpid())
	time.Sleep(d)
	busy1, _, err := systemCPU()
	if err != nil {
		return 0
	}
	self1, _ := cpuTime(os.Getpid())
	return max(0, ((busy1-busy0)-(self1-self0)).Seconds()/d.Seconds())
}
