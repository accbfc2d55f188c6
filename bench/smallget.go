package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
)

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
			progress("small GET %-7s round %d/%d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d",
				n, round+1, b.o.runs, r.rps, r.p50, r.p99, r.errors)
		}
	}
	gwRPS, _, gwP99 := summarize(runs["gateway"])
	diRPS, _, diP99 := summarize(runs["direct"])
	ngRPS, _, _ := summarize(runs["nginx"])
	rr, rp := ratio(gwRPS, diRPS), ratio(gwP99, diP99)
	b.rep.addTarget("small GET 1 KiB: gateway / direct req/s", fmt.Sprintf("%.2f", rr), "≥ 0.75", rr >= 0.75)
	b.rep.addTarget("small GET 1 KiB: gateway / direct p99", fmt.Sprintf("%.2f", rp), "≤ 2", rp <= 2)
	body := fmt.Sprintf("1 KiB object, unlimited-hit token, %d keep-alive connections each sending its next "+
		"request as soon as the answer is in (closed loop), %s warm-up then %s measured per run. "+
		"Latency is from writing the request to the last byte of the answer. CPU columns: cores used on "+
		"average during the measured window (2.00 = both cores busy), medians over the runs; `other` is the "+
		"rest of the machine's busy time (anything not started by the bench), `steal` time the hypervisor "+
		"gave elsewhere.\n\n",
		b.o.conns, b.o.warmup, b.o.window) +
		rateTable(names, runs, []string{"bench", "gateway", "MinIO", "nginx", "redis", "other", "steal"}) +
		fmt.Sprintf("\ngateway/direct req/s %.2f, gateway/nginx req/s %.2f, gateway/direct p99 %.2f.\n", rr, ratio(gwRPS, ngRPS), rp)
	b.rep.addSection("Small GET (1 KiB, medians)", body)

	gw := reqs["gateway"]
	return b.profile("small-get", "request", func(ctx context.Context, done *atomic.Int64) {
		b.driveCounting(ctx, gw, done)
	})
}
