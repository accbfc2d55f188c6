package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
)

// token measures POST /token on the gateway against the bare-handler ceiling (the "token"
// scenario), interleaved.
func (b *bench) token() error {
	hdr := []string{"Authorization", "Bearer " + controlToken, "Content-Type", "application/json"}
	gw, err := rawFor(http.MethodPost, b.s.gwURL+"/token", hdr, []byte(mintBody), http.StatusCreated)
	if err != nil {
		return err
	}
	ceil, err := rawFor(http.MethodPost, b.s.ceilingURL+"/token", hdr, []byte(mintBody), http.StatusCreated)
	if err != nil {
		return err
	}
	reqs := map[string]rawRequest{"gateway": gw.withCounter("000123"), "ceiling": ceil.withCounter("000123")}
	names := []string{"gateway", "ceiling"}
	runs := map[string][]rateRun{}
	for round := range b.o.runs {
		for j := range names {
			n := names[(round+j)%len(names)]
			r, err := b.runRate(reqs[n])
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			if r.errors > 0 {
				b.rep.notes = append(b.rep.notes, fmt.Sprintf("POST /token %s round %d: %d errors, first: %v", n, round+1, r.errors, r.firstErr))
			}
			runs[n] = append(runs[n], r)
			progress("POST /token %-7s round %d/%d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d",
				n, round+1, b.o.runs, r.rps, r.p50, r.p99, r.errors)
		}
	}
	gwRPS, _, gwP99 := summarize(runs["gateway"])
	ceRPS, _, ceP99 := summarize(runs["ceiling"])
	rr := ratio(gwRPS, ceRPS)
	b.rep.addTarget("POST /token: gateway / bare-handler ceiling req/s", fmt.Sprintf("%.2f", rr), "≥ 0.7", rr >= 0.7)
	body := fmt.Sprintf("Body `%s` (the key's digits change on every request), %d keep-alive connections, "+
		"%s warm-up then %s measured per run. Ceiling: a bare net/http handler in this program, run "+
		"as its own process, that decodes the same JSON (unknown fields refused), makes a random token, "+
		"writes the record with one `HSET` (7 fields, no expiry, no hashing of the token) through "+
		"go-redis with default settings, and answers the same JSON shape with 201.\n\n",
		mintBody, b.o.conns, b.o.warmup, b.o.window) +
		rateTable(names, runs, []string{"bench", "gateway", "ceiling", "redis", "other", "steal"}) +
		fmt.Sprintf("\ngateway/ceiling req/s %.2f, p99 %.2f ms vs %.2f ms (%.2f×).\n", rr, gwP99, ceP99, ratio(gwP99, ceP99))
	b.rep.addSection("POST /token (medians)", body)

	g := reqs["gateway"]
	return b.profile("token", "token minted", func(ctx context.Context, done *atomic.Int64) {
		b.driveCounting(ctx, g, done)
	})
}
