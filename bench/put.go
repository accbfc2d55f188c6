package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
)

// put measures 256 MiB uploads through the gateway (Content-Length and chunked) against a
// presigned PUT (the "put" scenario), then profiles both gateway uploads. It stays one
// function, longer than the house limit, because the rounds, the table and the profiles share
// the modes and their results.
func (b *bench) put() error {
	const size = 256 << 20
	direct, err := b.presign(b.direct, http.MethodPut, "bench/put-direct")
	if err != nil {
		return err
	}
	type mode struct {
		name    string
		chunked bool
		gateway bool
	}
	modes := []mode{{"gateway, Content-Length", false, true}, {"gateway, chunked", true, true}, {"direct, Content-Length", false, false}}
	names, byName := make([]string, len(modes)), map[string]mode{}
	for i, m := range modes {
		names[i], byName[m.name] = m.name, m
	}
	one := func(name string, ready func()) (float64, error) {
		m := byName[name]
		u := direct
		if m.gateway {
			key := "bench/put-gw-cl"
			if m.chunked {
				key = "bench/put-gw-chunked"
			}
			tok, err := b.m.putToken(b.ctx, key) // minted outside the timed window
			if err != nil {
				return 0, err
			}
			u = b.s.gwURL + "/object/" + tok
		}
		ready()
		d, body, err := upload(b.ctx, b.hc, u, size, m.chunked)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", m.name, err)
		}
		if m.gateway {
			if err := checkUploadAnswer(body, size); err != nil {
				return 0, err
			}
		}
		return float64(size) / d.Seconds() / 1e6, nil
	}
	res, cpu, err := b.uploadRounds("PUT 256 MiB", names, one)
	if err != nil {
		return err
	}
	cl, ch, di := median(res[modes[0].name]), median(res[modes[1].name]), median(res[modes[2].name])
	rcl, rch := ratio(cl, di), ratio(ch, di)
	b.rep.addTarget("PUT 256 MiB Content-Length: gateway / direct", fmt.Sprintf("%.2f", rcl), "≥ 0.85", rcl >= 0.85)
	b.rep.addTarget("PUT 256 MiB chunked: gateway / direct (with length)", fmt.Sprintf("%.2f", rch), "≥ 0.7", rch >= 0.7)
	var rows [][]string
	for _, m := range modes {
		runs := cpu[m.name]
		rows = append(rows, []string{m.name, fmt.Sprintf("%.0f", median(res[m.name])), fmt.Sprintf("%.2f", ratio(median(res[m.name]), di)), runsList(res[m.name], "%.0f"),
			cpuMedian(runs, "bench"), cpuMedian(runs, "gateway"), cpuMedian(runs, "MinIO"), cpuMedian(runs, "other")})
	}
	body := "One 256 MiB upload at a time, timed from sending the request to the answer. Gateway: " +
		"`PUT /object/<token>` with a fresh one-upload PUT token per upload, minted before the timer " +
		"starts; the gateway sends a Content-Length body as one streaming PutObject and a chunked body " +
		"as a multipart upload (8 MiB parts, 2 in flight). Direct: a presigned PUT URL on MinIO **with " +
		"Content-Length** — MinIO (like S3) refuses a chunked PutObject without a length, so the " +
		"chunked gateway upload is compared against the direct upload with a length.\n\n" +
		mdTable([]string{"upload", "MB/s", "/ direct", "MB/s of every run", "CPU bench", "CPU gateway", "CPU MinIO", "CPU other"}, rows) +
		"\nCPU columns: cores used during the uploads (the token minting is outside), medians.\n"
	b.rep.addSection("PUT 256 MiB (MB/s, medians)", body)

	var perr error
	for _, chunked := range []bool{false, true} {
		name, key := "put-cl", "bench/prof-put-cl"
		if chunked {
			name, key = "put-chunked", "bench/prof-put-chunked"
		}
		err := b.profile(name, "MiB uploaded", func(ctx context.Context, done *atomic.Int64) {
			for ctx.Err() == nil {
				tok, err := b.m.putToken(b.ctx, key)
				if err != nil {
					return
				}
				if _, _, err := upload(b.ctx, b.hc, b.s.gwURL+"/object/"+tok, size, chunked); err == nil {
					done.Add(size >> 20)
				}
			}
		})
		perr = errors.Join(perr, err)
	}
	return perr
}
