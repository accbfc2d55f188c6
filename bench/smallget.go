package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

// smallGet measures 1 KiB GETs through the gateway, the bare reverse proxy, nginx and
// straight to MinIO, interleaved (the "small-get" scenario): request rate, latency and the
// CPU each process spends per request; then it profiles the gateway.
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
			progress("small GET %-8s round %d/%d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d, %.0f µs CPU per request in the hop",
				n, round+1, b.o.runs, r.rps, r.p50, r.p99, r.errors, hopOf(n, r.cpu)/r.rps*1e6)
		}
	}
	chartErr := b.smallGetReport(names, runs)

	gw := reqs["gateway"]
	err = b.profile("small-get", "request", func(ctx context.Context, done *atomic.Int64) {
		b.driveCounting(ctx, gw, done)
	})
	if chartErr != nil {
		return chartErr
	}
	return err
}

// usPerRequest returns the median over runs of the CPU microseconds per request that f picks
// from a run's use (cores during the window, divided by the requests per second).
func usPerRequest(runs []rateRun, f func(use map[string]float64) float64) float64 {
	xs := make([]float64, 0, len(runs))
	for _, r := range runs {
		if r.rps > 0 {
			xs = append(xs, f(r.cpu)/r.rps*1e6)
		}
	}
	return median(xs)
}

// smallGetReport adds the scenario's section, targets and chart to the report.
func (b *bench) smallGetReport(names []string, runs map[string][]rateRun) error {
	rps := map[string]float64{}
	var gwP99, diP99 float64
	for _, n := range names {
		var p99 float64
		rps[n], _, p99 = summarize(runs[n])
		switch n {
		case "gateway":
			gwP99 = p99
		case "direct":
			diP99 = p99
		}
	}
	rr, rp := ratio(rps["gateway"], rps["direct"]), ratio(gwP99, diP99)
	b.rep.addTarget("small GET 1 KiB: gateway / direct req/s", fmt.Sprintf("%.2f", rr), "≥ 0.75", rr >= 0.75)
	b.rep.addTarget("small GET 1 KiB: gateway / direct p99", fmt.Sprintf("%.2f", rp), "≤ 2", rp <= 2)

	hop := map[string]float64{}
	var costRows [][]string
	for _, n := range names {
		hop[n] = usPerRequest(runs[n], func(u map[string]float64) float64 { return hopOf(n, u) })
		row := []string{n, fmt.Sprintf("%.0f", rps[n]), cell("%.1f", hop[n], len(hopProcs[n]) > 0)}
		for _, p := range costProcs {
			row = append(row, fmt.Sprintf("%.1f", usPerRequest(runs[n], func(u map[string]float64) float64 { return u[p] })))
		}
		costRows = append(costRows, row)
	}
	gwAlone := usPerRequest(runs["gateway"], func(u map[string]float64) float64 { return u["gateway"] })
	costs := smallGetCosts(hop, gwAlone)
	b.addCostTargets(costs)

	body := fmt.Sprintf("1 KiB object, unlimited-hit token, %d keep-alive connections each sending its next "+
		"request as soon as the answer is in (closed loop), %s warm-up then %s measured per run. "+
		"Latency is from writing the request to the last byte of the answer. CPU columns: cores used on "+
		"average during the measured window (2.00 = both cores busy), medians over the runs; `other` is the "+
		"rest of the machine's busy time (anything not started by the bench), `steal` time the hypervisor "+
		"gave elsewhere.\n\n",
		b.o.conns, b.o.warmup, b.o.window) +
		rateTable(names, runs, []string{"bench", "gateway", "MinIO", "revproxy", "nginx", "redis", "other", "steal"}) +
		fmt.Sprintf("\ngateway/direct req/s %.2f, gateway/revproxy req/s %.2f, gateway/nginx req/s %.2f, gateway/direct p99 %.2f.\n",
			rr, ratio(rps["gateway"], rps["revproxy"]), ratio(rps["gateway"], rps["nginx"]), rp) +
		"\n**CPU per request** (µs of CPU time, user + system, per request answered; the median over the " +
		"runs of each run's CPU time in the window ÷ its requests). **hop** is what the path puts in front " +
		"of MinIO: the gateway and its Redis server (both serve every request), the bare reverse proxy, or " +
		"nginx; direct has none. The other columns are each process on its own, whatever path the run " +
		"took (an idle process shows its background work).\n\n" +
		mdTable(append([]string{"path", "req/s", "hop µs/req"}, prefixed("µs/req ", costProcs)...), costRows) +
		"\n" + costLines(costs)
	md, err := b.writeChart("small-get", smallGetChart(names, rps, runs, hop, rr, costs))
	body += "\n" + md
	b.rep.addSection("Small GET (1 KiB, medians)", body)
	return err
}

// smallGetCosts are the scenario's ratios of CPU per request, from the hops' figures and the
// gateway's alone (µs per request).
func smallGetCosts(hop map[string]float64, gwAlone float64) []costTarget {
	const scope = "small GET 1 KiB: CPU per request, "
	mk := func(what string, v, goal float64) costTarget { return costTarget{scope + what, what, v, goal} }
	return []costTarget{
		mk("gateway+redis / revproxy", ratio(hop["gateway"], hop["revproxy"]), 0.8),
		mk("gateway+redis / nginx", ratio(hop["gateway"], hop["nginx"]), 2),
		mk("gateway alone / revproxy", ratio(gwAlone, hop["revproxy"]), 0),
		mk("gateway alone / nginx", ratio(gwAlone, hop["nginx"]), 0),
	}
}

// smallGetChart is the scenario's chart: request rate per path, then CPU per request of each
// hop (the gateway's stacked with its Redis server's).
func smallGetChart(names []string, rps map[string]float64, runs map[string][]rateRun, hop map[string]float64, rr float64, costs []costTarget) chart {
	var rate, cpu group
	rate.label, cpu.label = "1 KiB GET", "1 KiB GET"
	for _, n := range names {
		rate.bars = append(rate.bars, bar{name: n, parts: []part{{n, rps[n]}}})
		switch n {
		case "direct":
		case "gateway":
			var parts []part
			for _, p := range hopProcs[n] {
				parts = append(parts, part{p, usPerRequest(runs[n], func(u map[string]float64) float64 { return u[p] })})
			}
			cpu.bars = append(cpu.bars, bar{name: "gateway+redis", parts: parts})
		default:
			cpu.bars = append(cpu.bars, bar{name: n, parts: []part{{n, hop[n]}}})
		}
	}
	minio := usPerRequest(runs["direct"], func(u map[string]float64) float64 { return u["MinIO"] })
	return chart{
		title: "small-get: 1 KiB GETs, 50 connections, by path",
		panels: []panel{{
			title: "Requests per second (higher is better)", unit: "req/s", format: "%.0f",
			groups: []group{rate},
			notes: []string{fmt.Sprintf("gateway / direct %.2f (target ≥ 0.75), gateway / revproxy %.2f, gateway / nginx %.2f",
				rr, ratio(rps["gateway"], rps["revproxy"]), ratio(rps["gateway"], rps["nginx"]))},
		}, {
			title: "CPU per request of the hop in front of MinIO (lower is better)", unit: "µs CPU per request", format: "%.0f",
			groups: []group{cpu},
			notes: append(costNotes(costs),
				fmt.Sprintf("MinIO itself: %.0f µs per request on the direct path (it serves every path).", minio)),
		}},
	}
}

// prefixed returns each of names with prefix in front.
func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// costNotes renders the ratios that have a goal for a chart.
func costNotes(ts []costTarget) []string {
	var out []string
	for _, t := range ts {
		if t.goal > 0 {
			out = append(out, t.note())
		}
	}
	return out
}

// costLines renders ratios as a Markdown list.
func costLines(ts []costTarget) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "- %s\n", t)
	}
	return b.String()
}
