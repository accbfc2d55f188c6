package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects what the run measured and renders it as Markdown, the same text on stdout
// and in bench/results/<date>.md.
type report struct {
	date     string
	command  string
	started  time.Time
	machine  []string
	settings []string
	targets  []target
	sections []section
	profiles []profileText
	failures []string
	notes    []string
}

// target is one of the goals and what this run measured for it.
type target struct {
	name     string
	measured string
	goal     string
	met      bool
	missing  bool // could not be measured in this run
}

type section struct {
	title string
	body  string
}

type profileText struct {
	scenario, kind, file, top, note string
}

func (r *report) addTarget(name, measured, goal string, met bool) {
	r.targets = append(r.targets, target{name: name, measured: measured, goal: goal, met: met})
}

func (r *report) addSection(title string, body string) {
	r.sections = append(r.sections, section{title: title, body: body})
}

// markdown renders the whole report.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# AssetGateway bench, %s\n\n", r.date)
	fmt.Fprintf(&b, "Command: `%s` (run from the repository root; took %s).\n\n", r.command, time.Since(r.started).Round(time.Second))
	b.WriteString("## Machine and settings\n\n")
	for _, l := range r.machine {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	for _, l := range r.settings {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	b.WriteString("\n## Targets, ratios from this run\n\n")
	b.WriteString("Throughput, memory and Redis targets come from issue 4; the CPU per request and per GB " +
		"ones (gateway + Redis against the bare reverse proxy and nginx) from the issue \"One S3 data path … " +
		"without losing speed\". A target missed never fails the run.\n\n")
	rows := make([][]string, 0, len(r.targets))
	for _, t := range r.targets {
		met := "no"
		switch {
		case t.missing:
			met = "not measured"
		case t.met:
			met = "yes"
		}
		rows = append(rows, []string{t.name, t.measured, t.goal, met})
	}
	b.WriteString(mdTable([]string{"target", "measured", "goal", "met"}, rows))
	for _, s := range r.sections {
		fmt.Fprintf(&b, "\n## %s\n\n%s", s.title, s.body)
	}
	if len(r.profiles) > 0 {
		b.WriteString("\n## Profiles of the gateway\n\n")
		b.WriteString("Captured through the gateway's `-debug-addr` listener (net/http/pprof) in a separate " +
			"gateway-only pass right after each scenario's measured runs, so that profiling never slows a " +
			"measured run. CPU: `/debug/pprof/profile?seconds=N`; allocations: the heap profile's cumulative " +
			"allocation counts taken with `/debug/pprof/heap?gc=1` at both ends of the same window and " +
			"subtracted (`go tool pprof -proto -base`, without the profile handler's own allocations), so the " +
			"file holds exactly the window's allocations " +
			"(sampled by the runtime, one sample per 512 KiB on average). Each excerpt is `go tool pprof -top` " +
			"sorted by own cost, then by cumulative cost. Open a file with `go tool pprof -http=: <file>`.\n")
		for _, p := range r.profiles {
			fmt.Fprintf(&b, "\n### %s, %s: `%s`\n\n", p.scenario, p.kind, p.file)
			if p.note != "" {
				fmt.Fprintf(&b, "%s\n\n", p.note)
			}
			fmt.Fprintf(&b, "```text\n%s\n```\n", strings.TrimRight(p.top, "\n"))
		}
	}
	if len(r.notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if len(r.failures) > 0 {
		b.WriteString("\n## Scenarios that could not run\n\n")
		for _, f := range r.failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	return b.String()
}

// mdTable renders a Markdown table with aligned columns.
func mdTable(header []string, rows [][]string) string {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = len([]rune(h))
	}
	for _, row := range rows {
		for i, c := range row {
			if i < len(width) {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i := range header {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(header)
	b.WriteString("|")
	for i := range header {
		fmt.Fprintf(&b, "%s|", strings.Repeat("-", width[i]+2))
	}
	b.WriteString("\n")
	for _, row := range rows {
		line(row)
	}
	return b.String()
}

// median returns the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// runsList formats individual runs, e.g. "812 790 805".
func runsList(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " ")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func ms(d float64) string { return fmt.Sprintf("%.2f ms", d) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// machineFacts describes the machine and the software versions.
func machineFacts(root string) []string {
	var out []string
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				mem = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	out = append(out, fmt.Sprintf("CPU: nproc %d (%s), memory %s, Linux %s", runtime.NumCPU(), cpu, mem, strings.TrimSpace(string(kernel))))
	gover := strings.TrimSpace(cmdOutput(root, "go", "version"))
	out = append(out, fmt.Sprintf("Go: `%s` (builds the gateway and runs the bench)", gover))
	return out
}

// cmdOutput runs a command and returns its combined output, or "" when it fails.
func cmdOutput(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		return ""
	}
	return string(b)
}

// minioVersion reads the module version the MinIO binary was built from.
func minioVersion(bin string) string {
	for _, l := range strings.Split(cmdOutput("", "go", "version", "-m", bin), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/minio/minio" {
			return f[2]
		}
	}
	return "?"
}

// quoteArgs renders a command line for copy and paste.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
