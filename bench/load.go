package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator for request-rate scenarios (small GET, POST /token, minting): each
// worker owns one keep-alive TCP connection and sends one fixed HTTP/1.1 request over and
// over, reading each response with a minimal parser (status line, Content-Length or chunked,
// Connection: close). It allocates nothing per request, so on a 2-core machine it leaves as
// much CPU as possible to the servers under test. Every latency in the window is kept (one
// int64 each, at most maxSamples per worker) and percentiles are exact (nearest rank).

// rawRequest is one request sent verbatim.
type rawRequest struct {
	addr string // host:port to dial
	req  []byte // the whole request: request line, headers, body
	head bool   // a HEAD request: the response has no body
	want int    // expected status; anything else counts as an error
	// counterAt, when > 0, is the offset of a 6-digit decimal field in req that is rewritten
	// with a running counter before each send (so that minted records differ, as real ones do).
	counterAt int
}

// newRawRequest builds a request. body may be nil.
func newRawRequest(method, host, uri string, hdr []string, body []byte, want int) rawRequest {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, uri, host)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return rawRequest{addr: host, req: b.Bytes(), head: method == "HEAD", want: want}
}

// withCounter marks the first occurrence of marker (6 characters) in the request as the
// counter field.
func (r rawRequest) withCounter(marker string) rawRequest {
	if len(marker) != 6 {
		panic("counter marker must be 6 characters")
	}
	if i := bytes.Index(r.req, []byte(marker)); i > 0 {
		r.counterAt = i
	}
	return r
}

// loadOptions says how long and how hard to drive a rawRequest.
type loadOptions struct {
	conns  int
	warmup time.Duration // requests before the window are sent but not measured
	window time.Duration // the measured window (duration mode)
	total  int64         // when > 0: send exactly this many requests, all measured (count mode)
	// onStart and onEnd run at the window's start and end (duration mode), e.g. to sample
	// the CPU time of the processes under test.
	onStart, onEnd func()
}

// loadResult is what a run measured.
type loadResult struct {
	requests int64         // completed in the window with the wanted status
	errors   int64         // completed in the window with another status, or failed
	elapsed  time.Duration // window length (duration mode) or wall time (count mode)
	lat      []int64       // sorted latencies (ns) of the requests in the window
	firstErr error
}

func (r loadResult) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// percentile returns the nearest-rank percentile p (0 < p ≤ 100) of the latencies.
func (r loadResult) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(r.lat))*p/100)) - 1
	rank = max(0, min(rank, len(r.lat)-1))
	return time.Duration(r.lat[rank])
}

// maxSamples bounds the latencies one worker keeps (past it, requests are counted only).
const maxSamples = 1 << 20

// runLoad drives rr with o.conns connections. It is longer than the house limit because the
// worker loop is a closure over the run's shared window and counters: the hot path reads best,
// and allocates nothing, in one place.
func runLoad(ctx context.Context, rr rawRequest, o loadOptions) (loadResult, error) {
	if o.conns <= 0 {
		return loadResult{}, errors.New("no connections")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		start    = time.Now()
		winStart = start.Add(o.warmup)
		winEnd   = winStart.Add(o.window)
		issued   atomic.Int64 // count mode: requests handed out
		counter  atomic.Uint64
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      loadResult
	)
	if o.total > 0 {
		winStart, winEnd = start, time.Time{}
	}
	worker := func() {
		defer wg.Done()
		c := &rawConn{addr: rr.addr}
		defer c.close()
		req := slices.Clone(rr.req)
		lat := make([]int64, 0, 1<<14)
		var ok, bad int64
		var firstErr error
		for ctx.Err() == nil {
			if o.total > 0 && issued.Add(1) > o.total {
				break
			}
			if rr.counterAt > 0 {
				putDigits(req[rr.counterAt:rr.counterAt+6], counter.Add(1))
			}
			t0 := time.Now()
			if o.total == 0 && !t0.Before(winEnd) {
				break
			}
			status, err := c.do(req, rr.head)
			t1 := time.Now()
			if o.total == 0 && (t0.Before(winStart) || t1.After(winEnd)) {
				if err != nil {
					time.Sleep(10 * time.Millisecond) // a refused dial must not spin
				}
				continue // warm-up, or finished after the window closed
			}
			switch {
			case err != nil:
				bad++
				if firstErr == nil {
					firstErr = err
				}
				time.Sleep(10 * time.Millisecond)
			case status != rr.want:
				bad++
				if firstErr == nil {
					firstErr = fmt.Errorf("status %d, want %d", status, rr.want)
				}
			default:
				ok++
				if len(lat) < maxSamples {
					lat = append(lat, int64(t1.Sub(t0)))
				}
			}
		}
		mu.Lock()
		res.requests += ok
		res.errors += bad
		res.lat = append(res.lat, lat...)
		if res.firstErr == nil {
			res.firstErr = firstErr
		}
		mu.Unlock()
	}
	wg.Add(o.conns)
	for range o.conns {
		go worker()
	}
	if o.total == 0 {
		if !sleepUntil(ctx, winStart) {
			return res, ctx.Err()
		}
		if o.onStart != nil {
			o.onStart()
		}
		if !sleepUntil(ctx, winEnd) {
			return res, ctx.Err()
		}
		if o.onEnd != nil {
			o.onEnd()
		}
	}
	wg.Wait()
	if o.total > 0 {
		res.elapsed = time.Since(start)
	} else {
		res.elapsed = o.window
	}
	slices.Sort(res.lat)
	return res, ctx.Err()
}

// sleepUntil waits for t or ctx; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// putDigits writes n mod 10^len(dst) into dst as zero-padded decimal.
func putDigits(dst []byte, n uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
}

// rawConn is one keep-alive HTTP/1.1 client connection.
type rawConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	used bool // a request completed on c (a failure on it may be a closed idle connection)
}

func (c *rawConn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req and reads the response, discarding its body. A request that fails on a
// reused connection before any response byte arrives (the server closed it while idle) is
// sent once more on a new connection.
func (c *rawConn) do(req []byte, head bool) (int, error) {
	for attempt := 0; ; attempt++ {
		if c.c == nil {
			conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
			if err != nil {
				return 0, err
			}
			c.c, c.used = conn, false
			if c.br == nil {
				c.br = bufio.NewReaderSize(conn, 64<<10)
			} else {
				c.br.Reset(conn)
			}
		}
		reused := c.used
		_ = c.c.SetDeadline(time.Now().Add(30 * time.Second))
		status, keep, started, err := c.roundTrip(req, head)
		if err != nil {
			c.close()
			if reused && !started && attempt == 0 {
				continue
			}
			return 0, err
		}
		c.used = true
		if !keep {
			c.close()
		}
		return status, nil
	}
}

// roundTrip writes req and reads one response. started reports whether any response byte
// was read.
func (c *rawConn) roundTrip(req []byte, head bool) (status int, keep, started bool, err error) {
	if _, err = c.c.Write(req); err != nil {
		return 0, false, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, len(line) > 0, err
	}
	started = true
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, true, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, true, fmt.Errorf("bad status line %q", line)
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, false, true, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil {
				return 0, false, true, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}
	switch {
	case head || status == 204 || status == 304 || status/100 == 1:
	case chunked:
		err = c.discardChunked()
	case length >= 0:
		_, err = c.br.Discard(int(length))
	default:
		return status, false, true, errors.New("response without Content-Length on a keep-alive connection")
	}
	if err != nil {
		return 0, false, true, fmt.Errorf("reading body: %w", err)
	}
	return status, keep, true, nil
}

// discardChunked skips a chunked body and its trailers.
func (c *rawConn) discardChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sz, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		n, err := strconv.ParseInt(string(sz), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the empty line
				t, err := c.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimSpace(t)) == 0 {
					return nil
				}
			}
		}
		if _, err := c.br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

// drain is io.Copy to nowhere through a large buffer (io.Discard's ReadFrom reads 8 KiB at
// a time, which would make the client, not the server, the bottleneck of a large download).
func drain(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
