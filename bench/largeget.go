package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// largeRuns is what the runs of one object size measured, per path.
type largeRuns struct {
	label string
	size  int64
	paths []string
	mbps  map[string][]float64            // MB/s of every run, in order
	cores map[string][]map[string]float64 // cores each process used, every run
	secs  map[string]map[string]float64   // CPU seconds per process, summed over the runs
	bytes map[string]int64                // bytes downloaded in the timed runs
}

// perGB returns the CPU seconds per gigabyte (10^9 bytes) that f picks from the summed CPU
// seconds of path's runs. Sums, not a median of runs: a 64 MiB download takes about 50 ms,
// a handful of ticks of /proc's 10 ms clock, too coarse for one run on its own.
func (r *largeRuns) perGB(path string, f func(secs map[string]float64) float64) float64 {
	return ratio(f(r.secs[path]), float64(r.bytes[path])/1e9)
}

// largeGet measures whole-object downloads of 64 MiB and 1 GiB through the gateway, the bare
// reverse proxy, nginx, straight to MinIO and through a redirect token, interleaved (the
// "large-get" scenario): MB/s and the CPU each process spends per gigabyte; then it profiles
// the gateway.
func (b *bench) largeGet() error {
	buf := make([]byte, 256<<10)
	cases := []struct {
		label, key string
		runs       int
	}{{"64 MiB", obj64M, 3 * b.o.runs}, {"1 GiB", obj1G, b.o.runs1G}} // a 64 MiB run takes ~50 ms: thrice the repeats
	var all []*largeRuns
	for _, c := range cases {
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
		r, err := b.largeCase(c.label, objSizes[c.key], c.runs, paths, buf)
		if err != nil {
			return err
		}
		all = append(all, r)
	}
	chartErr := b.largeGetReport(all)

	key := obj64M
	err := b.profile("large-get", "MiB downloaded", func(ctx context.Context, done *atomic.Int64) {
		for ctx.Err() == nil {
			// The transfer itself runs on b.ctx: ending the profile must not cut a download.
			if _, err := download(b.ctx, b.hc, b.s.gwURL+"/object/"+b.getTok[key], objSizes[key], buf); err == nil {
				done.Add(objSizes[key] >> 20)
			}
		}
	})
	if chartErr != nil {
		return chartErr
	}
	return err
}

// largeCase downloads one object size over every path: a warm-up download each, then runs
// rounds, the order of the paths rotated each round.
func (b *bench) largeCase(label string, size int64, runs int, paths []path, buf []byte) (*largeRuns, error) {
	r := &largeRuns{label: label, size: size, mbps: map[string][]float64{}, cores: map[string][]map[string]float64{},
		secs: map[string]map[string]float64{}, bytes: map[string]int64{}}
	for _, p := range paths { // warm-up: connections, MinIO's page cache
		r.paths = append(r.paths, p.name)
		r.secs[p.name] = map[string]float64{}
		if _, err := download(b.ctx, b.hc, p.url, size, buf); err != nil {
			return nil, fmt.Errorf("%s %s warm-up: %w", p.name, label, err)
		}
	}
	for round := range runs {
		for j := range paths {
			p := paths[(round+j)%len(paths)]
			var (
				d    time.Duration
				use  map[string]float64
				wall time.Duration
			)
			err := b.measured(func() (map[string]float64, error) {
				g := b.cpuOf()
				g.begin()
				var err error
				d, err = download(b.ctx, b.hc, p.url, size, buf)
				use, wall = g.end(), g.elapsed
				return use, err
			})
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", p.name, label, err)
			}
			r.cores[p.name] = append(r.cores[p.name], use)
			for proc, c := range use {
				r.secs[p.name][proc] += c * wall.Seconds()
			}
			r.bytes[p.name] += size
			mbps := float64(size) / d.Seconds() / 1e6
			r.mbps[p.name] = append(r.mbps[p.name], mbps)
			progress("large GET %s %-8s round %d/%d: %.0f MB/s, %.2f s CPU per GB in the hop",
				label, p.name, round+1, runs, mbps, ratio(hopOf(p.name, use)*wall.Seconds(), float64(size)/1e9))
		}
	}
	return r, nil
}

// largeGetReport adds the scenario's section, targets and chart to the report.
func (b *bench) largeGetReport(all []*largeRuns) error {
	var rows, detail, costRows [][]string
	var costs []costTarget
	for _, r := range all {
		m := func(p string) float64 { return median(r.mbps[p]) }
		gw, di := m("gateway"), m("direct")
		rd, rn := ratio(gw, di), ratio(gw, m("nginx"))
		rows = append(rows, []string{r.label, fmt.Sprintf("%.0f", gw), fmt.Sprintf("%.0f", m("revproxy")), fmt.Sprintf("%.0f", m("nginx")),
			fmt.Sprintf("%.0f", di), fmt.Sprintf("%.2f", rd), fmt.Sprintf("%.2f", ratio(gw, m("revproxy"))), fmt.Sprintf("%.2f", rn),
			fmt.Sprintf("%.0f", m("redirect")), fmt.Sprintf("%.2f", ratio(m("redirect"), di))})
		b.rep.addTarget("large GET "+r.label+": gateway / direct", fmt.Sprintf("%.2f", rd), "≥ 0.85", rd >= 0.85)
		b.rep.addTarget("large GET "+r.label+": gateway / nginx", fmt.Sprintf("%.2f", rn), "≥ 1.3", rn >= 1.3)
		for _, p := range r.paths {
			row := []string{r.label, p, runsList(r.mbps[p], "%.0f")}
			for _, proc := range []string{"bench", "gateway", "redis", "MinIO", "revproxy", "nginx", "other"} {
				row = append(row, cpuMedian(r.cores[p], proc))
			}
			detail = append(detail, row)

			hop := r.perGB(p, func(s map[string]float64) float64 { return hopOf(p, s) })
			row = []string{r.label, p, fmt.Sprintf("%.0f", m(p)), cell("%.3f", hop, len(hopProcs[p]) > 0)}
			for _, proc := range costProcs {
				row = append(row, fmt.Sprintf("%.3f", r.perGB(p, func(s map[string]float64) float64 { return s[proc] })))
			}
			costRows = append(costRows, row)
		}
		hop := func(p string) float64 { return r.perGB(p, func(s map[string]float64) float64 { return hopOf(p, s) }) }
		mk := func(what string, v, goal float64) costTarget {
			return costTarget{"large GET " + r.label + ": CPU per GB, " + what, r.label + ": " + what, v, goal}
		}
		costs = append(costs, mk("gateway+redis / nginx", ratio(hop("gateway"), hop("nginx")), 0.5),
			mk("gateway+redis / revproxy", ratio(hop("gateway"), hop("revproxy")), 0))
	}
	b.addCostTargets(costs)
	body := "One download at a time on a keep-alive connection, whole object, timed from sending the " +
		"request to the last byte; the client reads through a 256 KiB buffer and discards. Gateway: " +
		"`GET /object/<unlimited GET token>`; direct: a presigned GET URL on MinIO; revproxy and nginx: a " +
		"presigned URL signed for the proxy's address (both pass Host on); redirect: a token with `\"delivery\": " +
		"\"redirect\"`, whose 307 the client follows to a presigned URL (the time includes the round " +
		"trip to the gateway). One untimed warm-up download per path first.\n\n" +
		mdTable([]string{"object", "gateway MB/s", "revproxy MB/s", "nginx MB/s", "direct MB/s", "gateway/direct", "gateway/revproxy", "gateway/nginx", "redirect MB/s", "redirect/direct"}, rows) +
		"\nEvery run (MB/s, in the order measured), and the CPU cores each process used during the " +
		"downloads (medians; `other` is the machine's busy time not started by the bench):\n\n" +
		mdTable([]string{"object", "path", "MB/s of every run", "CPU bench", "CPU gateway", "CPU redis", "CPU MinIO", "CPU revproxy", "CPU nginx", "CPU other"}, detail) +
		"\n**CPU per GB** (seconds of CPU time, user + system, per 10^9 bytes downloaded: each process's CPU " +
		"time summed over the path's runs ÷ the bytes of those runs; sums rather than medians because one " +
		"64 MiB run lasts only a few ticks of /proc's 10 ms clock). **hop** is what the path puts in front " +
		"of MinIO: the gateway and its Redis server, the bare reverse proxy, or nginx (redirect: the gateway " +
		"and Redis, which only answer the 307); direct has none. The other columns are each process on its own.\n\n" +
		mdTable(append([]string{"object", "path", "MB/s", "hop s/GB"}, prefixed("s/GB ", costProcs)...), costRows) +
		"\n" + costLines(costs)
	md, err := b.writeChart("large-get", largeGetChart(all, costs))
	body += "\n" + md
	b.rep.addSection("Large GET (MB/s, medians)", body)
	return err
}

// largeGetChart is the scenario's chart: MB/s per path and object size, then CPU per GB of
// each hop (the gateway's stacked with its Redis server's).
func largeGetChart(all []*largeRuns, costs []costTarget) chart {
	var rate, cpu []group
	var rateNotes []string
	for _, r := range all {
		rg, cg := group{label: r.label}, group{label: r.label}
		for _, p := range []string{"gateway", "revproxy", "nginx", "direct"} {
			rg.bars = append(rg.bars, bar{name: p, parts: []part{{p, median(r.mbps[p])}}})
			switch p {
			case "direct":
			case "gateway":
				var parts []part
				for _, proc := range hopProcs[p] {
					parts = append(parts, part{proc, r.perGB(p, func(s map[string]float64) float64 { return s[proc] })})
				}
				cg.bars = append(cg.bars, bar{name: "gateway+redis", parts: parts})
			default:
				cg.bars = append(cg.bars, bar{name: p, parts: []part{{p, r.perGB(p, func(s map[string]float64) float64 { return hopOf(p, s) })}}})
			}
		}
		rate, cpu = append(rate, rg), append(cpu, cg)
		gw := median(r.mbps["gateway"])
		rateNotes = append(rateNotes, fmt.Sprintf("%s: gateway / direct %.2f (target ≥ 0.85), gateway / revproxy %.2f, gateway / nginx %.2f",
			r.label, ratio(gw, median(r.mbps["direct"])), ratio(gw, median(r.mbps["revproxy"])), ratio(gw, median(r.mbps["nginx"]))))
	}
	return chart{
		title: "large-get: whole-object GETs, one at a time, by path",
		panels: []panel{
			{title: "Download speed (higher is better)", unit: "MB/s", format: "%.0f", groups: rate, notes: rateNotes},
			{title: "CPU per GB of the hop in front of MinIO (lower is better)", unit: "CPU seconds per GB", format: "%.2f", groups: cpu, notes: costNotes(costs)},
		},
	}
}
