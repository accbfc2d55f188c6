package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory and CPU of the processes under test, from /proc (Linux only).

// memStatus returns a process's resident set (VmRSS) and its peak (VmHWM), in bytes.
func memStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(value) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: odd %s line %q", pid, name, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}

// resetPeak resets a process's VmHWM to its current RSS (clear_refs "5", Linux ≥ 4.0), so
// that the next read of VmHWM is the peak of what happened in between.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssSampler polls VmRSS while a scenario runs; VmHWM catches peaks between polls, the
// samples show the shape.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	max  int64
}

func startRSSSampler(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if rss, _, err := memStatus(pid); err == nil {
				s.mu.Lock()
				s.max = max(s.max, rss)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the largest VmRSS seen.
func (s *rssSampler) finish() int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on every Linux build the
// bench targets).
const clockTicks = 100

// cpuTime returns the user+system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces: fields are counted after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// After ')': state(3) ppid(4) … utime(14) stime(15): indexes 11 and 12.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// childPIDs returns the direct children of pid (nginx's workers).
func childPIDs(pid int) []int {
	ents, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range ents {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if c, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// systemCPU returns the machine's busy CPU time (user, nice, system, irq, softirq; not idle,
// iowait or steal) and the time stolen by the hypervisor, from /proc/stat.
func systemCPU() (busy, steal time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: odd first line %q", line)
	}
	v := make([]int64, 8)
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	// user nice system idle iowait irq softirq steal
	busyTicks := v[0] + v[1] + v[2] + v[5] + v[6]
	return time.Duration(busyTicks) * time.Second / clockTicks, time.Duration(v[7]) * time.Second / clockTicks, nil
}

// cpuGroup measures the CPU time of named process groups (a process and, optionally, its
// children) over a window, and what the rest of the machine used meanwhile: "other" is the
// machine's busy time minus the groups' (other processes, other tenants of the kernel),
// "steal" the time the hypervisor gave to other virtual machines.
type cpuGroup struct {
	names []string
	pids  [][]int
	start []time.Duration
	at    time.Time

	// elapsed is the wall time between begin and the last end: cores × elapsed is CPU time.
	elapsed time.Duration

	sysBusy, sysSteal time.Duration
}

func (g *cpuGroup) add(name string, pids ...int) {
	g.names = append(g.names, name)
	g.pids = append(g.pids, pids)
}

func (g *cpuGroup) total(i int) time.Duration {
	var sum time.Duration
	for _, pid := range g.pids[i] {
		if d, err := cpuTime(pid); err == nil {
			sum += d
		}
	}
	return sum
}

// begin records the starting CPU times.
func (g *cpuGroup) begin() {
	g.start = make([]time.Duration, len(g.names))
	for i := range g.names {
		g.start[i] = g.total(i)
	}
	g.sysBusy, g.sysSteal, _ = systemCPU()
	g.at = time.Now()
}

// end returns, per group, the CPU cores used on average since begin (1.0 = one core busy).
func (g *cpuGroup) end() map[string]float64 {
	g.elapsed = time.Since(g.at)
	wall := g.elapsed.Seconds()
	out := make(map[string]float64, len(g.names)+2)
	var ours float64
	for i, name := range g.names {
		out[name] = (g.total(i) - g.start[i]).Seconds() / wall
		ours += out[name]
	}
	if busy, steal, err := systemCPU(); err == nil {
		out["other"] = max(0, (busy-g.sysBusy).Seconds()/wall-ours)
		out["steal"] = (steal - g.sysSteal).Seconds() / wall
	}
	return out
}
