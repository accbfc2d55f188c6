package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

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
