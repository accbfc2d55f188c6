// Command bench measures AssetGateway against talking to the bucket directly and against
// nginx in front of the same bucket, in one run on loopback, and writes the table the
// performance issue asks for. See bench/README.md.
//
//	go run ./bench            # the full run, a few minutes; writes bench/results/<date>.md
//	go run ./bench -quick     # a smoke run of about a minute; writes bench/tmp/<date>.md
//	go run ./bench -only small-get,token
//
// It starts redis-server, MinIO, nginx and the gateway (built from the working tree), runs
// the scenarios interleaved, and exits non-zero only when it could not run — never because a
// number missed its target.
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
var scenarios = []string{"large-get", "small-get", "rss", "put", "tus", "token", "commands", "memory"}

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
	quiet       float64       // before each measured run, wait for other work below this many cores; 0: don't
	quietBudget time.Duration // the most the whole run waits for quiet
}

func (o *options) selected(s string) bool { return len(o.only) == 0 || slices.Contains(o.only, s) }

// variant names a run that is not the full default one, for its report's file name:
// "" for the full run, else e.g. "-quick", "-nginx-tuned-large-get".
func (o *options) variant() string {
	v := ""
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

func main() {
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
		out         = flag.String("out", "", "folder for <date>.md and the profiles (default bench/results for a full run, bench/tmp otherwise)")
		keep        = flag.Bool("keep", false, "keep the temporary folder with the servers' logs and data")
		quiet       = flag.Float64("quiet", -1, "before each measured run, wait until other work on the machine uses fewer cores than this (0: never wait; default 0.25, quick 0)")
		quietBudget = flag.Duration("quiet-budget", 10*time.Minute, "the longest the whole run waits for -quiet")
		nginxMode   = flag.String("nginx", "stock", "nginx buffering: stock (a plain proxy_pass with nginx's defaults: the peer the table compares against, as issue 4 asks) or tuned (8 x 64 KiB buffers, no spooling to disk)")
		// Internal: the bench starts itself with these to serve the POST /token ceiling.
		ceilingListen = flag.String("ceiling-listen", "", "internal: serve the bare POST /token handler on this address")
		ceilingRedis  = flag.String("ceiling-redis", "", "internal: Redis address of the bare handler")
	)
	flag.Parse()
	if *ceilingListen != "" {
		if err := serveCeiling(*ceilingListen, *ceilingRedis); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}

	o := options{quick: *quick, conns: *conns, keep: *keep, nginxTuned: *nginxMode == "tuned"}
	if *nginxMode != "tuned" && *nginxMode != "stock" {
		fmt.Fprintln(os.Stderr, "bench: -nginx wants tuned or stock")
		os.Exit(2)
	}
	pick := func(v, full, q int) int {
		switch {
		case v > 0:
			return v
		case o.quick:
			return q
		}
		return full
	}
	pickDur := func(v, full, q time.Duration) time.Duration {
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
	if *only != "" {
		for _, s := range strings.Split(*only, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(scenarios, s) {
				fmt.Fprintf(os.Stderr, "bench: unknown scenario %q; want some of %s\n", s, strings.Join(scenarios, ","))
				os.Exit(2)
			}
			o.only = append(o.only, s)
		}
	}
	if o.conns <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -conns must be positive")
		os.Exit(2)
	}
	o.out = *out

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// errScenarios means the run finished but some scenario could not be measured.
var errScenarios = errors.New("some scenarios could not run (see the report)")

func run(ctx context.Context, o options) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join(root, "bench", "tmp")
		if !o.quick && len(o.only) == 0 && !o.nginxTuned {
			o.out = filepath.Join(root, "bench", "results")
		}
	}
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
	progress("starting redis-server, MinIO%s, the gateway", map[bool]string{true: ", nginx", false: ""}[needNginx])
	if err := s.startRedis(ctx); err != nil {
		return err
	}
	if err := s.startMinIO(ctx); err != nil {
		return err
	}
	if needNginx {
		var port int
		if _, err := fmt.Sscanf(s.minioURL, "http://127.0.0.1:%d", &port); err != nil {
			return err
		}
		if err := s.startNginx(ctx, nginxBin, port, !o.nginxTuned); err != nil {
			return err
		}
	}
	if err := s.startGateway(ctx); err != nil {
		return err
	}
	if o.selected("token") {
		if err := s.startCeiling(ctx); err != nil {
			return err
		}
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
	steps := map[string]func() error{
		"large-get": b.largeGet,
		"small-get": b.smallGet,
		"put":       b.put,
		"tus":       b.tus, // scenario_tus.go
		"token":     b.token,
		"rss":       b.rss,
		"commands":  b.commands,
		"memory":    b.memory,
	}
	for _, name := range scenarios {
		if !o.selected(name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		progress("== %s", name)
		if err := steps[name](); err != nil {
			progress("%s failed: %v", name, err)
			rep.failures = append(rep.failures, fmt.Sprintf("%s: %v", name, err))
		}
	}
	b.gatewayLogSummary()
	if o.quiet > 0 {
		rep.settings = append(rep.settings, fmt.Sprintf("Quiet gate (`-quiet %.2f`): before each measured run the bench waited until other work used fewer than %.2f cores (sampled over 0.4 s); it waited %s in all, and %d runs started without quiet because the %s budget was spent. A run during which other work used more than %.2f cores was measured again (at most twice): %d runs were repeated, %d kept although disturbed.", o.quiet, o.quiet, b.quietWaited.Round(time.Second), b.quietMissed, o.quietBudget, 2*o.quiet, b.repeated, b.disturbed))
	}
	rep.settings = append(rep.settings, fmt.Sprintf("Other work on the machine (busy CPU not started by the bench, from /proc/stat): %.2f cores in 3 s before the run, %.2f cores in 3 s after it (the servers idle). The CPU columns below show it during each measurement.", loadBefore, otherLoad(3*time.Second)))
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
