package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// commands counts the Redis commands behind each GET, HEAD and PUT /object (the "commands"
// scenario). It stays one function, longer than the house limit, because its steps (warm-up,
// snapshots, one table row per request kind) share the counting closures and read in order.
func (b *bench) commands() error {
	n, nPut := 1000, 200
	if b.o.quick {
		n, nPut = 300, 50
	}
	tok := b.getTok[obj1K]
	getReq, err := rawFor(http.MethodGet, b.s.gwURL+"/object/"+tok, nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	headReq, err := rawFor(http.MethodHead, b.s.gwURL+"/object/"+tok, nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	putToks := make([]string, nPut+5)
	for i := range putToks {
		if putToks[i], err = b.m.putToken(b.ctx, fmt.Sprintf("bench/cmd-put-%03d", i)); err != nil {
			return err
		}
	}
	mon, err := startMonitor(b.s.redisAddr)
	if err != nil {
		return err
	}
	defer mon.close()

	sequential := func(rr rawRequest, count int) error {
		res, err := runLoad(b.ctx, rr, loadOptions{conns: 1, total: int64(count)})
		if err != nil {
			return err
		}
		if res.errors > 0 || res.requests != int64(count) {
			return fmt.Errorf("%d of %d requests failed, first: %v", res.errors, count, res.firstErr)
		}
		return nil
	}
	putN := func(toks []string) error {
		for _, t := range toks {
			_, body, err := upload(b.ctx, b.hc, b.s.gwURL+"/object/"+t, 1<<10, false)
			if err != nil {
				return err
			}
			if err := checkUploadAnswer(body, 1<<10); err != nil {
				return err
			}
		}
		return nil
	}
	kinds := []struct {
		name   string
		count  int
		warm   func() error
		do     func() error
		target bool
	}{
		{"GET (happy path)", n, func() error { return sequential(getReq, 20) }, func() error { return sequential(getReq, n) }, true},
		{"HEAD", n, func() error { return sequential(headReq, 20) }, func() error { return sequential(headReq, n) }, true},
		{"PUT (Content-Length, 1 KiB)", nPut, func() error { return putN(putToks[:5]) }, func() error { return putN(putToks[5:]) }, false},
	}
	var rows [][]string
	for _, k := range kinds {
		if err := k.warm(); err != nil { // loads the scripts, fills the pools
			return fmt.Errorf("%s warm-up: %w", k.name, err)
		}
		m0 := mon.snapshot()
		s0, err := commandStats(b.ctx, b.rdb)
		if err != nil {
			return err
		}
		if err := k.do(); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		m1 := mon.snapshot()
		s1, err := commandStats(b.ctx, b.rdb)
		if err != nil {
			return err
		}
		md, sd := delta(m0, m1), delta(s0, s1)
		delete(sd, "info") // the bench's own INFO commandstats
		per := func(x int64) float64 { return float64(x) / float64(k.count) }
		var trips int64
		var tripCmds, luaCmds, otherCmds []string
		for key, v := range md {
			class, cmd, _ := strings.Cut(key, " ")
			switch class {
			case "token":
				trips += v
				tripCmds = append(tripCmds, fmt.Sprintf("%s %.2f", cmd, per(v)))
			case "lua":
				luaCmds = append(luaCmds, fmt.Sprintf("%s %.2f", cmd, per(v)))
			case "lua-other":
				otherCmds = append(otherCmds, fmt.Sprintf("%s %d (in a script)", cmd, v))
			default:
				if cmd != "info" {
					otherCmds = append(otherCmds, fmt.Sprintf("%s %d", cmd, v))
				}
			}
		}
		var total int64
		var stats []string
		for cmd, v := range sd {
			total += v
			stats = append(stats, fmt.Sprintf("%s %.3f", cmd, per(v)))
		}
		for _, l := range [][]string{tripCmds, luaCmds, otherCmds, stats} {
			slices.Sort(l)
		}
		rows = append(rows, []string{k.name, fmt.Sprint(k.count), fmt.Sprintf("%.3f", per(trips)), strings.Join(tripCmds, ", "),
			strings.Join(luaCmds, ", "), fmt.Sprintf("%.3f: %s", per(total), strings.Join(stats, ", ")), strings.Join(otherCmds, ", ")})
		progress("commands %s: %.3f round trips per request, commandstats %.3f per request", k.name, per(trips), per(total))
		if k.target {
			x := per(trips)
			b.rep.addTarget("Redis round trips per "+strings.Fields(k.name)[0]+" /object", fmt.Sprintf("%.3f", x), "1", x > 0.995 && x < 1.005)
		}
	}
	body := "Counted two ways while the gateway serves the requests one after another on one keep-alive " +
		"connection (after a short warm-up that loads the Lua scripts): `INFO commandstats` before and " +
		"after (what Redis executed — it counts the commands a Lua script runs, and the webhook " +
		"queue's background polling, as well as the EVALSHA itself), and `MONITOR`, which tells the " +
		"commands a client sent from those a script ran. **Round trips** are the commands a client sent " +
		"about a token record (`" + keyPrefix + "t:…`/`" + keyPrefix + "r:…` keys): what the target counts. PUT round trips: " +
		"the consume script and the uploaded mark.\n\n" +
		mdTable([]string{"request", "N", "round trips / request", "sent by the gateway (per request)", "run inside scripts (per request)", "INFO commandstats delta / request", "other clients' commands in the window (total)"}, rows)
	b.rep.addSection("Redis commands per /object request", body)
	return nil
}
