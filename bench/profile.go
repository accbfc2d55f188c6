package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// profile drives load against the gateway (until the profiles are taken) and meanwhile
// captures a CPU profile and an allocation profile over the same window from the gateway's
// pprof listener. The files go next to the report: <date>-cpu-<scenario>.pprof and
// <date>-allocs-<scenario>.pprof. load counts its completed units (requests, MB) in done.
// It is longer than the house limit because both profiles must cover the same window under the
// same load: start, capture and stop are kept in one sequence.
func (b *bench) profile(scenario, unit string, load func(ctx context.Context, done *atomic.Int64)) error {
	secs := b.o.profileSecs
	if secs <= 0 {
		return nil
	}
	progress("profiling the gateway for %ds: %s", secs, scenario)
	ctx, cancel := context.WithCancel(b.ctx)
	var (
		done atomic.Int64
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		load(ctx, &done)
	}()
	stopLoad := func() {
		cancel()
		wg.Wait()
	}
	time.Sleep(500 * time.Millisecond) // let the load reach its steady state

	// CPU: the handler profiles for secs seconds. Allocations: the heap profile's cumulative
	// alloc_space/alloc_objects, taken with gc=1 (a forced GC publishes every allocation so far;
	// without one the profile lags by up to a GC cycle) at both ends of the same window, and
	// subtracted with pprof -base, leaving out what the profile handler itself allocated.
	cpuFile := fmt.Sprintf("%s-cpu-%s.pprof", b.rep.date+b.o.variant(), scenario)
	allocFile := fmt.Sprintf("%s-allocs-%s.pprof", b.rep.date+b.o.variant(), scenario)
	baseFile := filepath.Join(b.s.dir, scenario+"-heap-start.pprof")
	endFile := filepath.Join(b.s.dir, scenario+"-heap-end.pprof")
	var (
		cpuErr   error
		cpuDone  = make(chan struct{})
		c0, c1   int64
		allocErr error
	)
	go func() {
		defer close(cpuDone)
		cpuErr = b.fetchProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), filepath.Join(b.o.out, cpuFile), secs)
	}()
	if allocErr = b.fetchProfile("/debug/pprof/heap?gc=1", baseFile, secs); allocErr == nil {
		c0 = done.Load()
		time.Sleep(time.Duration(secs) * time.Second)
		allocErr = b.fetchProfile("/debug/pprof/heap?gc=1", endFile, secs)
		c1 = done.Load()
	}
	<-cpuDone
	stopLoad()
	if err := errors.Join(cpuErr, allocErr); err != nil {
		return fmt.Errorf("profile %s: %w", scenario, err)
	}
	delta, err := exec.Command("go", "tool", "pprof", "-proto", "-ignore=runtime/pprof", "-base", baseFile, endFile).Output()
	if err != nil {
		return fmt.Errorf("profile %s: go tool pprof -proto -base: %w", scenario, err)
	}
	if err := os.WriteFile(filepath.Join(b.o.out, allocFile), delta, 0o644); err != nil {
		return err
	}
	units := c1 - c0

	// Two views of each: by own cost (flat) and by cost including callees (cum), which is
	// where the expensive paths show.
	top := func(file string, extra ...string) string {
		var out []string
		for _, view := range [][]string{{"-nodecount=20"}, {"-cum", "-nodecount=25"}} {
			args := append([]string{"tool", "pprof", "-top"}, view...)
			args = append(append(args, extra...), file)
			text := cmdOutput(b.root, "go", args...)
			if len(out) > 0 { // the header once
				if i := strings.Index(text, "      flat"); i >= 0 {
					text = "(sorted by cum)\n" + text[i:]
				}
			}
			out = append(out, strings.TrimRight(text, "\n"))
		}
		return strings.Join(out, "\n\n")
	}
	note := fmt.Sprintf("%d s window, %d × %s.", secs, units, unit)
	cpuTop := top(filepath.Join(b.o.out, cpuFile))
	b.rep.profiles = append(b.rep.profiles, profileText{scenario: scenario, kind: "CPU", file: cpuFile, top: cpuTop, note: note})

	file := filepath.Join(b.o.out, allocFile)
	space := top(file, "-sample_index=alloc_space")
	objects := cmdOutput(b.root, "go", "tool", "pprof", "-top", "-nodecount=1", "-sample_index=alloc_objects", file)
	bytes, ok1 := pprofTotal(space)
	count, ok2 := pprofTotal(objects)
	if ok1 && ok2 && units > 0 {
		note += fmt.Sprintf(" Allocated per %s: %s in %.1f objects (%s and %.0f objects in all).",
			unit, humanBytes(bytes/float64(units)), count/float64(units), humanBytes(bytes), count)
	}
	b.rep.profiles = append(b.rep.profiles, profileText{scenario: scenario, kind: "allocated bytes (alloc_space)", file: allocFile, top: space, note: note})
	return nil
}

func (b *bench) fetchProfile(path, file string, secs int) error {
	ctx, cancel := context.WithTimeout(b.ctx, time.Duration(secs)*time.Second+time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.s.gwDebug+path, nil)
	if err != nil {
		return err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, msg)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// totalRE finds the total in pprof's header: "Showing nodes accounting for 1.20GB, 98.50% of 1.22GB total".
var totalRE = regexp.MustCompile(`of ([0-9.]+)([a-zA-Z]*) total`)

// pprofTotal returns the total of a -top report in bytes (or objects).
func pprofTotal(top string) (float64, bool) {
	m := totalRE.FindStringSubmatch(top)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	scale := map[string]float64{"": 1, "B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40,
		"k": 1e3, "M": 1e6, "G": 1e9}
	s, ok := scale[m[2]]
	if !ok {
		return 0, false
	}
	return v * s, true
}

func humanBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}
