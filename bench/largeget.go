package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

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
