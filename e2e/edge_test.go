package e2e

// Safe at the edges: slow and greedy clients against the real binary, Redis and MinIO.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// openFiles counts the file descriptors process pid holds.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("counting open files: %v", err)
	}
	return len(ents)
}

// raiseFileLimit makes sure this test process may open n files, raising the soft limit up
// to the hard one if needed.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("open-file limit: hard limit %d, the test needs %d (raise it: ulimit -Hn)", lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raising the open-file limit to %d: %v", n, err)
	}
}

// dialFrom is a dialer whose connections come from local address ip (all of 127/8 is
// loopback on Linux, so 127.0.0.2 is another client as far as the gateway can tell).
func dialFrom(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
}

// dripOutcome is how one dripping connection ended.
type dripOutcome struct {
	status int           // the gateway's answer; 0 for none
	code   string        // X-Error-Code of the answer
	err    error         // how the connection ended without an answer
	took   time.Duration // from the connection's opening to the answer or the end
}

// drip connects, sends head, then one byte of body every interval until the gateway answers
// or closes the connection, or within passes.
func drip(d *net.Dialer, addr, head string, interval, within time.Duration) dripOutcome {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return dripOutcome{err: err}
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, head); err != nil {
		return dripOutcome{err: err, took: time.Since(start)}
	}
	br := bufio.NewReader(c)
	for time.Since(start) < within {
		_ = c.SetReadDeadline(time.Now().Add(interval))
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if _, err := c.Write([]byte{'x'}); err != nil {
					return dripOutcome{err: err, took: time.Since(start)}
				}
				continue
			}
			return dripOutcome{err: err, took: time.Since(start)}
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return dripOutcome{err: err, took: time.Since(start)}
		}
		resp.Body.Close()
		return dripOutcome{status: resp.StatusCode, code: resp.Header.Get("X-Error-Code"), took: time.Since(start)}
	}
	return dripOutcome{err: errors.New("still open"), took: time.Since(start)}
}

// TestConnectionFlood: 3000 connections from 127.0.0.1 each send the headers of a large PUT
// and then drip its body. The gateway admits max_conns_per_client of them and refuses the
// rest at once, so its open files stay bounded by the cap, not by the flood; the admitted
// ones are cut by the body limits; a client at another address (127.0.0.2) is served
// throughout; and nothing is stored or spent. The tokens live in the embedded store: the
// flood is about connections, and the test Redis fsyncs every write.
func TestConnectionFlood(t *testing.T) {
	const (
		flood     = 3000
		perClient = 256
		// Admitted connections live at least this long: a refusal that came later waited
		// for a slot. (Accepting 3000 connections on a busy 2-core machine takes seconds.)
		idle = 5 * time.Second
	)
	raiseFileLimit(t, flood+1000)
	env := newEnv(t, false)
	env.putDirect(t, "flood/obj", []byte("payload"))
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		s := section(cfg, "server")
		s["max_conns_per_client"] = perClient
		s["body_idle_timeout"] = idle.String()
		section(cfg, "redis")["addr"] = ""
	}))
	c := client{t, gw.URL}
	put := c.mint(`{"bucket":"assets","key":"flood/upload","method":"PUT","max_hits":10000}`)
	get := c.mint(`{"bucket":"assets","key":"flood/obj","method":"GET","max_hits":-1}`)
	http.DefaultClient.CloseIdleConnections()
	pid := gw.cmd.Process.Pid
	baseline := openFiles(t, pid)

	started := time.Now()
	outcomes, done := startFlood(flood, endpointHost(t, gw.URL),
		fmt.Sprintf("PUT /object/%s HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000000\r\n\r\n", put))
	peak, served, slowest := watchFlood(t, pid, gw.URL+"/object/"+get, done)
	f := tallyFlood(outcomes, idle)
	t.Logf("%d connections in %s: %v (slowest refusal %s); gateway open files %d before, peak %d; client at 127.0.0.2: %d answers, slowest %s",
		flood, time.Since(started).Round(time.Millisecond), f.counts, f.slowestRefusal.Round(time.Millisecond), baseline, peak,
		served, slowest.Round(time.Millisecond))

	// Each admitted upload holds its connection and one to the object store.
	if limit := baseline + 2*perClient + 64; peak > limit {
		t.Errorf("gateway open files peaked at %d, want at most %d (baseline %d + 2 × max_conns_per_client %d + 64)",
			peak, limit, baseline, perClient)
	}
	refused := f.counts["refused (503)"] + f.counts["refused (reset)"]
	if f.counts["cut (408)"] < 1 || f.counts["cut (408)"]+refused != flood || f.counts["refused (reset)"] > flood/100 {
		t.Errorf("outcomes %v: want every connection cut with 408 or refused with 503 (at most 1%% seeing a reset instead)", f.counts)
	}
	if f.refusedLate > 0 {
		t.Errorf("%d connections were refused only after %s, want at once (before any slot could free up)", f.refusedLate, idle)
	}
	if served == 0 {
		t.Error("the client at 127.0.0.2 got nothing through")
	}
	if !strings.Contains(gw.Log(), `"msg":"connections_refused"`) {
		t.Error("no connections_refused line in the gateway's log")
	}
	c.waitUsedHits(put, 0, 10*time.Second)
	if err := env.objectAbsent("flood/upload"); err != nil {
		t.Error(err)
	}
	if !pollUntil(10*time.Second, func() bool { return openFiles(t, pid) <= baseline+8 }) {
		t.Errorf("gateway open files %d 10 s after the flood, want back near %d", openFiles(t, pid), baseline)
	}
}

// startFlood opens n dripping connections from 127.0.0.1 at once, each sending head; done
// closes when every one has ended, and outcomes then holds how each did.
func startFlood(n int, addr, head string) (<-chan dripOutcome, <-chan struct{}) {
	var wg sync.WaitGroup
	outcomes := make(chan dripOutcome, n)
	for range n {
		wg.Go(func() {
			outcomes <- drip(dialFrom("127.0.0.1"), addr, head, 500*time.Millisecond, 30*time.Second)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(outcomes); close(done) }()
	return outcomes, done
}

// watchFlood, every 50 ms until done, counts the gateway's open files and fetches url from
// 127.0.0.2; it returns the peak of open files, the answers the other client got and the
// slowest of them.
func watchFlood(t *testing.T, pid int, url string, done <-chan struct{}) (peak, served int, slowest time.Duration) {
	t.Helper()
	other := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialFrom("127.0.0.2").DialContext,
		DisableKeepAlives: true}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range 1000 {
		peak = max(peak, openFiles(t, pid))
		if o := try(other, "GET", url, nil); o.status == 200 && string(o.body) == "payload" {
			served++
			slowest = max(slowest, o.took)
		} else {
			t.Errorf("the client at 127.0.0.2 during the flood: %s", o)
		}
		select {
		case <-done:
			return peak, served, slowest
		case <-tick.C:
		}
	}
	<-done
	return peak, served, slowest
}

// floodTally sums up how the connections of a flood ended.
type floodTally struct {
	counts         map[string]int
	slowestRefusal time.Duration
	refusedLate    int // refused only once an admitted connection could have been cut: it waited
}

func tallyFlood(outcomes <-chan dripOutcome, idle time.Duration) floodTally {
	f := floodTally{counts: map[string]int{}}
	for o := range outcomes {
		switch {
		case o.status == 408:
			f.counts["cut (408)"]++
		case o.status == 503 && o.code == "too_many_connections":
			f.counts["refused (503)"]++
			f.slowestRefusal = max(f.slowestRefusal, o.took)
			if o.took >= idle {
				f.refusedLate++
			}
		case o.status == 0 && o.took < idle && (errors.Is(o.err, syscall.EPIPE) || errors.Is(o.err, syscall.ECONNRESET)):
			// Refused too, its 503 lost: the gateway answered and closed before this client's
			// bytes arrived, and a socket that receives data after its close answers with a
			// reset, which discards the answer. Only a refusal ends this early: an admitted
			// connection lives for idle.
			f.counts["refused (reset)"]++
		default:
			f.counts[fmt.Sprintf("other: %d %s %v", o.status, o.code, o.err)]++
		}
	}
	return f
}

// slowPut sends a PUT of body over a raw connection, piece bytes every interval (after the
// first piece, nothing at all when interval is 0), and returns the answer and when it came.
func slowPut(t *testing.T, addr, path string, body []byte, chunked bool, piece int, interval time.Duration) (*http.Response, []byte, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if chunked {
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n", path)
	} else {
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", path, len(body))
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for off := 0; off < len(body); off += piece {
			p := body[off:min(off+piece, len(body))]
			if chunked {
				p = fmt.Appendf(nil, "%x\r\n%s\r\n", len(p), p)
				if off+piece >= len(body) {
					p = append(p, "0\r\n\r\n"...)
				}
			}
			if _, err := conn.Write(p); err != nil || interval == 0 {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("PUT %s: no answer: %v", path, err)
	}
	answer, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if resp.Close {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("PUT %s: the connection stayed open after Connection: close", path)
		}
	}
	return resp, answer, took
}

// TestSlowUploads: a body dripped below body_min_rate, or one that stops, is cut with 408
// request_timeout (the connection closed); nothing is stored and the hit is handed back, so
// the same token uploads afterwards. An honest slow upload at 8 KiB/s over several windows
// is never cut.
func TestSlowUploads(t *testing.T) {
	const idle = 2 * time.Second
	env := newEnv(t, false)
	gw := startGateway(t, env.Config(func(cfg map[string]any) {
		section(cfg, "server")["body_idle_timeout"] = idle.String() // body_min_rate: the default 1KiB
	}))
	c := client{t, gw.URL}
	addr := endpointHost(t, gw.URL)
	tests := []struct {
		name     string
		size     int
		chunked  bool
		piece    int
		interval time.Duration
		cut      bool
	}{
		// 100 bytes every 500 ms: 200 B/s, never idle for long, far under 1 KiB/s.
		{"dripped", 1 << 20, false, 100, 500 * time.Millisecond, true},
		{"dripped chunked", 1 << 20, true, 100, 500 * time.Millisecond, true},
		{"stops", 1 << 20, false, 64 << 10, 0, true},
		// 1 KiB every 125 ms: 8 KiB/s for 4 windows.
		{"honest 8 KiB/s", 64 << 10, false, 1 << 10, 125 * time.Millisecond, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := fmt.Sprintf("slow/%d", i)
			tok := c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"PUT"}`, key))
			body := randomBytes(tt.size)
			resp, answer, took := slowPut(t, addr, "/object/"+tok, body, tt.chunked, tt.piece, tt.interval)
			if !tt.cut {
				if resp.StatusCode != 200 {
					t.Fatalf("got %d %s after %s, want 200", resp.StatusCode, answer, took)
				}
				resp, got := c.do("GET", "/object/"+c.mint(fmt.Sprintf(`{"bucket":"assets","key":%q,"method":"GET"}`, key)), nil)
				if resp.StatusCode != 200 || !bytes.Equal(got, body) {
					t.Fatalf("stored object: got %d, %d bytes, want the %d bytes sent", resp.StatusCode, len(got), len(body))
				}
				t.Logf("%d KiB in %s: 200", tt.size>>10, took.Round(time.Millisecond))
				return
			}
			if resp.StatusCode != 408 || !strings.Contains(string(answer), `"code":"request_timeout"`) || !resp.Close ||
				!strings.Contains(string(answer), `"request_id":"`+resp.Header.Get("X-Request-Id")+`"`) {
				t.Fatalf("got %d %s (Connection: close %v) after %s, want 408 request_timeout with its request id, closing",
					resp.StatusCode, answer, resp.Close, took)
			}
			if took < idle || took > 3*idle+time.Second {
				t.Errorf("cut after %s, want between %s and %s", took, idle, 3*idle+time.Second)
			}
			c.waitUsedHits(tok, 0, 10*time.Second)
			if err := env.objectAbsent(key); err != nil {
				t.Fatal(err)
			}
			if resp, b := c.do("PUT", "/object/"+tok, bytes.NewReader(body)); resp.StatusCode != 200 {
				t.Fatalf("upload again with the handed-back hit: got %d %s", resp.StatusCode, b)
			}
			t.Logf("cut after %s: 408 request_timeout", took.Round(time.Millisecond))
		})
	}
}

// TestSlowDownloads: a download the client stops reading is cut after write_idle_timeout:
// the request to S3 is cancelled, the gateway's goroutines return to their baseline and the
// client finds its download cut short. A download read steadily for several times
// write_idle_timeout is never cut: the timeout is on idleness.
func TestSlowDownloads(t *testing.T) {
	const (
		writeIdle = 2 * time.Second
		size      = 32 << 20 // well over the socket buffers on both sides
	)
	env := newEnv(t, false)
	content := randomBytes(size)
	env.putDirect(t, "dl/big", content)
	tap := testenv.StartTap(t, endpointHost(t, env.S3.Endpoint))
	debugPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := fmt.Sprintf("127.0.0.1:%d", debugPort)
	gw := startGatewayArgs(t, env.Config(withEndpoint(tap.Addr, func(cfg map[string]any) {
		section(cfg, "server")["write_idle_timeout"] = writeIdle.String()
	})), "-debug-addr", debugAddr)
	c := client{t, gw.URL}
	tok := c.mint(`{"bucket":"assets","key":"dl/big","method":"GET","max_hits":-1}`)
	http.DefaultClient.CloseIdleConnections()
	baseline := waitGoroutinesStable(t, debugAddr)
	get := func(t *testing.T) (net.Conn, *bufio.Reader) {
		return rawGet(t, endpointHost(t, gw.URL), "/object/"+tok)
	}

	t.Run("stopped reader", func(t *testing.T) {
		conn, br := get(t)
		if _, err := io.ReadFull(br, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		closed, ok := tap.WaitActive(0, 5*writeIdle)
		if !ok {
			t.Fatalf("the S3 request still runs %s after the client stopped reading", 5*writeIdle)
		}
		cut := closed.Sub(stopped)
		if cut < writeIdle-200*time.Millisecond || cut > 2*writeIdle+time.Second {
			t.Errorf("cut %s after the client stopped reading, want about write_idle_timeout (%s)", cut, writeIdle)
		}
		after := waitGoroutines(t, debugAddr, baseline, 5*time.Second)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		rest, err := io.Copy(io.Discard, br)
		if got := rest + 1<<20; got >= size || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the client read %d of %d bytes (%v), want a download cut short and its connection closed", got, size, err)
		}
		t.Logf("cut %s after the client stopped reading; goroutines %d before, %d after", cut.Round(time.Millisecond), baseline, after)
	})

	t.Run("steady reader", func(t *testing.T) {
		_, br := get(t)
		start := time.Now()
		var got bytes.Buffer
		buf := make([]byte, 64<<10)
		for got.Len() < size {
			n, err := io.ReadFull(br, buf[:min(len(buf), size-got.Len())])
			got.Write(buf[:n])
			if err != nil {
				t.Fatalf("after %d bytes in %s: %v", got.Len(), time.Since(start), err)
			}
			time.Sleep(10 * time.Millisecond) // about 6 MB/s: 32 MiB take over 5 s
		}
		took := time.Since(start)
		if !bytes.Equal(got.Bytes(), content) {
			t.Fatal("the download differs from the object")
		}
		if took < 2*writeIdle {
			t.Errorf("the download took %s, want it longer than 2 × write_idle_timeout to mean something", took)
		}
		t.Logf("%d MiB read steadily in %s (write_idle_timeout %s): not cut", size>>20, took.Round(time.Millisecond), writeIdle)
	})
}

// rawGet sends a GET over a new connection and reads the answer's header (200 wanted); the
// body is left to read from the returned reader.
func rawGet(t *testing.T, addr, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: gw\r\n\r\n", path)
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	return conn, br
}

// TestZeroCopyKept: the edge's writer keeps net/http's zero-copy path. strace, attached to
// the gateway during a 32 MiB download from MinIO over plain HTTP, sees splice(2) move the
// bytes from the S3 connection to the client's.
func TestZeroCopyKept(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatal("strace not found: apt-get install -y strace")
	}
	const size = 32 << 20
	env := newEnv(t, false)
	content := randomBytes(size)
	env.putDirect(t, "zc/big", content)
	gw := startGateway(t, env.Config(nil)) // write_idle_timeout and the caps at their defaults
	c := client{t, gw.URL}
	tok := c.mint(`{"bucket":"assets","key":"zc/big","method":"GET"}`)

	out := filepath.Join(t.TempDir(), "strace.out")
	cmd := exec.Command(strace, "-f", "-e", "trace=splice", "-o", out, "-p", strconv.Itoa(gw.cmd.Process.Pid))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	attached := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "attached") {
				attached <- sc.Text()
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case line := <-attached:
		t.Logf("strace: %s", line)
	case <-time.After(10 * time.Second):
		t.Fatal("strace did not attach to the gateway within 10 s (is ptrace allowed here?)")
	}

	resp, body := c.do("GET", "/object/"+tok, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, content) {
		t.Fatalf("download: got %d, %d bytes, want the %d bytes of the object", resp.StatusCode, len(body), size)
	}
	_ = cmd.Process.Signal(os.Interrupt) // strace detaches and writes the rest of its log
	_ = cmd.Wait()
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	calls, moved := 0, 0
	result := regexp.MustCompile(`splice\(.*\) += (\d+)`)
	for _, m := range result.FindAllStringSubmatch(string(trace), -1) {
		n, _ := strconv.Atoi(m[1])
		calls++
		moved += n
	}
	// Each byte is spliced twice: S3 connection → pipe, pipe → client connection.
	if moved/2 < size-1<<20 {
		t.Errorf("splice moved %d bytes in %d calls, want about 2 × %d (S3 → pipe → client)", moved, calls, size)
	}
	t.Logf("%d splice calls moved %d MiB (2 × the %d MiB object)", calls, moved>>20, size>>20)
}
