package main

import (
	"fmt"
	"math"
)

// CPU per unit of work: what each path's hop in front of MinIO costs per request (small GETs)
// and per gigabyte (large GETs), from the per-process CPU times of procstat.go, taken in the
// same interleaved runs as the throughput.

// hopProcs are the processes a path puts in front of MinIO: what its CPU figure counts. The
// gateway's counts its Redis server too, since every /object request runs a script there:
// both serve the request. direct has no hop.
var hopProcs = map[string][]string{
	"gateway":  {"gateway", "redis"},
	"redirect": {"gateway", "redis"},
	"revproxy": {"revproxy"},
	"nginx":    {"nginx"},
}

// costProcs are the processes the CPU-per-work tables show one by one.
var costProcs = []string{"gateway", "redis", "revproxy", "nginx", "MinIO", "bench"}

// hopOf sums the path's hop processes in use (cores or CPU seconds per process).
func hopOf(path string, use map[string]float64) float64 {
	var sum float64
	for _, p := range hopProcs[path] {
		sum += use[p]
	}
	return sum
}

// costTarget is a ratio of CPU per unit of work and the goal it is held to (at most goal).
type costTarget struct {
	name  string  // in the report, e.g. "small GET 1 KiB: CPU per request, gateway+redis / revproxy"
	short string  // in a chart, e.g. "gateway+redis / revproxy"
	value float64 // the ratio measured
	goal  float64 // met when value ≤ goal; 0: no goal, shown for information
}

// String renders the ratio with its goal, for the report.
func (t costTarget) String() string { return t.render(t.name) }

// note renders the ratio with its goal, for a chart.
func (t costTarget) note() string { return t.render(t.short) }

func (t costTarget) render(name string) string {
	if t.goal == 0 {
		return fmt.Sprintf("%s: %.2f", name, t.value)
	}
	met := "met"
	if !t.met() {
		met = "not met"
	}
	return fmt.Sprintf("%s: %.2f (target ≤ %g: %s)", name, t.value, t.goal, met)
}

func (t costTarget) met() bool { return t.value > 0 && !math.IsNaN(t.value) && t.value <= t.goal }

// addCostTargets puts the ratios that have a goal into the report's targets table.
func (b *bench) addCostTargets(ts []costTarget) {
	for _, t := range ts {
		if t.goal > 0 {
			b.rep.addTarget(t.name, fmt.Sprintf("%.2f", t.value), fmt.Sprintf("≤ %g", t.goal), t.met())
		}
	}
}

// cell formats a figure for a table, "–" for a process that does not serve the path.
func cell(format string, v float64, serves bool) string {
	if !serves {
		return "–"
	}
	return fmt.Sprintf(format, v)
}
