package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// rss measures the gateway's peak resident memory for single and concurrent transfers (the
// "rss" scenario). It stays one function, longer than the house limit: the steps run in order
// on one gateway process and each adds a row and a target.
func (b *bench) rss() error {
	pid := b.s.gateway.pid()
	buf := make([]byte, 256<<10)
	var rows [][]string

	// Single downloads: the peak must not depend on the object's size.
	peaks := map[string]int64{}
	for _, key := range []string{obj64M, obj1G} {
		url := b.s.gwURL + "/object/" + b.getTok[key]
		var peak int64
		for run := range 2 {
			before, _, err := memStatus(pid)
			if err != nil {
				return err
			}
			if err := resetPeak(pid); err != nil {
				return fmt.Errorf("reset VmHWM: %w", err)
			}
			if _, err := download(b.ctx, b.hc, url, objSizes[key], buf); err != nil {
				return err
			}
			_, hwm, err := memStatus(pid)
			if err != nil {
				return err
			}
			peak = max(peak, hwm)
			label := "1 GiB"
			if key == obj64M {
				label = "64 MiB"
			}
			rows = append(rows, []string{fmt.Sprintf("one GET of %s (run %d)", label, run+1), mib(before), mib(hwm), "–", "–"})
		}
		peaks[key] = peak
	}
	grow := peaks[obj1G] - peaks[obj64M]
	allowed := max(int64(8<<20), peaks[obj64M]/10)
	b.rep.addTarget("gateway RSS does not grow with object size (peak, one GET of 1 GiB vs 64 MiB)",
		fmt.Sprintf("%s vs %s", mib(peaks[obj1G]), mib(peaks[obj64M])),
		"1 GiB peak ≤ 64 MiB peak + max(8 MiB, 10 %)", grow <= allowed)

	size := b.o.rssSize
	label := fmt.Sprintf("%d MiB", size>>20)

	// 50 concurrent downloads.
	const nGet = 50
	url := b.s.gwURL + "/object/" + b.getTok[b.rssKey()]
	row, err := b.concurrently(pid, fmt.Sprintf("%d concurrent GETs of %s", nGet, label), nGet, func(ctx context.Context, i int) (int64, error) {
		buf := make([]byte, 256<<10)
		_, err := download(ctx, b.hc, url, size, buf)
		return size, err
	})
	if err != nil {
		return err
	}
	rows = append(rows, row.cells)
	b.rep.addTarget(fmt.Sprintf("gateway peak RSS, %d concurrent %s GETs", nGet, label), mib(row.peak), "≤ 150 MiB", row.peak <= 150<<20)

	// 10 concurrent chunked uploads, one token each.
	const nPut = 10
	toks := make([]string, nPut)
	for i := range toks {
		if toks[i], err = b.m.putToken(b.ctx, fmt.Sprintf("bench/rss-put-%02d", i)); err != nil {
			return err
		}
	}
	row, err = b.concurrently(pid, fmt.Sprintf("%d concurrent chunked PUTs of %s", nPut, label), nPut, func(ctx context.Context, i int) (int64, error) {
		_, body, err := upload(ctx, b.hc, b.s.gwURL+"/object/"+toks[i], size, true)
		if err == nil {
			err = checkUploadAnswer(body, size)
		}
		return size, err
	})
	if err != nil {
		return err
	}
	rows = append(rows, row.cells)
	b.rep.addTarget(fmt.Sprintf("gateway peak RSS, %d concurrent chunked %s PUTs", nPut, label), mib(row.peak), "≤ 150 MiB", row.peak <= 150<<20)

	body := "Resident memory of the gateway process from /proc/<pid>/status: VmHWM (the kernel's peak, " +
		"reset with `/proc/<pid>/clear_refs` = 5 just before each step) and VmRSS polled every 20 ms. " +
		"`RSS before` is the resident set left over from earlier steps (the Go runtime returns freed " +
		"memory to the kernel only gradually). Chunked uploads are multipart uploads with the default " +
		"8 MiB parts, 2 in flight per upload.\n\n" +
		mdTable([]string{"step", "RSS before", "peak (VmHWM)", "max sampled VmRSS", "aggregate MB/s"}, rows)
	b.rep.addSection("Gateway memory (RSS)", body)
	return nil
}

type concRow struct {
	peak  int64
	cells []string
}

// concurrently runs n transfers at once and measures the gateway's memory meanwhile.
func (b *bench) concurrently(pid int, label string, n int, f func(ctx context.Context, i int) (int64, error)) (concRow, error) {
	b.waitQuiet()
	before, _, err := memStatus(pid)
	if err != nil {
		return concRow{}, err
	}
	if err := resetPeak(pid); err != nil {
		return concRow{}, fmt.Errorf("reset VmHWM: %w", err)
	}
	sampler := startRSSSampler(pid, 20*time.Millisecond)
	start := time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		bytes int64
		errs  []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := f(b.ctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			bytes += m
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sampled := sampler.finish()
	_, hwm, err := memStatus(pid)
	if err != nil {
		return concRow{}, err
	}
	if len(errs) > 0 {
		return concRow{}, fmt.Errorf("%s: %d of %d failed, first: %w", label, len(errs), n, errs[0])
	}
	progress("%s: peak RSS %s (sampled %s), %.0f MB/s aggregate", label, mib(hwm), mib(sampled), float64(bytes)/elapsed.Seconds()/1e6)
	return concRow{peak: hwm, cells: []string{label, mib(before), mib(hwm), mib(sampled),
		fmt.Sprintf("%.0f", float64(bytes)/elapsed.Seconds()/1e6)}}, nil
}
