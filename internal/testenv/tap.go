package testenv

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tap is a counting TCP proxy on 127.0.0.1: it forwards every connection to an upstream
// server and counts connections and bytes in each direction, so a test can tell whether (and
// when) anything reached the server behind it.
type Tap struct {
	// Addr is host:port to connect to instead of the upstream server.
	Addr     string
	upstream string
	ln       net.Listener

	conns    atomic.Int64 // connections accepted so far
	bytesUp  atomic.Int64 // client to server
	bytesDn  atomic.Int64 // server to client
	mu       sync.Mutex
	active   map[net.Conn]struct{} // accepted connections still open
	lastDone time.Time             // when the last connection closed
	changed  chan struct{}         // closed and replaced whenever active changes
	wg       sync.WaitGroup
}

// StartTap starts a Tap in front of upstream (host:port) and stops it when t ends.
func StartTap(t testing.TB, upstream string) *Tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &Tap{Addr: ln.Addr().String(), upstream: upstream, ln: ln,
		active: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	tp.wg.Add(1)
	go tp.accept()
	t.Cleanup(tp.close)
	return tp
}

func (tp *Tap) accept() {
	defer tp.wg.Done()
	for {
		c, err := tp.ln.Accept()
		if err != nil {
			return
		}
		tp.conns.Add(1)
		tp.track(c, true)
		tp.wg.Add(1)
		go tp.serve(c)
	}
}

// track adds or removes an open connection and wakes waiters.
func (tp *Tap) track(c net.Conn, open bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if open {
		tp.active[c] = struct{}{}
	} else {
		delete(tp.active, c)
		tp.lastDone = time.Now()
	}
	close(tp.changed)
	tp.changed = make(chan struct{})
}

// serve copies both ways until either side closes, then closes both.
func (tp *Tap) serve(c net.Conn) {
	defer tp.wg.Done()
	defer tp.track(c, false)
	defer c.Close()
	up, err := net.DialTimeout("tcp", tp.upstream, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, n *atomic.Int64) {
		_, _ = io.Copy(countWriter{dst, n}, src)
		// Either side ending ends the connection: a half-close would hide an abort.
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(up, c, &tp.bytesUp)
	go pipe(c, up, &tp.bytesDn)
	<-done
	<-done
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (cw countWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n.Add(int64(n))
	return n, err
}

// Conns is the number of connections accepted so far.
func (tp *Tap) Conns() int64 { return tp.conns.Load() }

// BytesUp is the number of bytes forwarded to the upstream server so far.
func (tp *Tap) BytesUp() int64 { return tp.bytesUp.Load() }

// BytesDown is the number of bytes forwarded from the upstream server so far.
func (tp *Tap) BytesDown() int64 { return tp.bytesDn.Load() }

// Active is the number of connections open now.
func (tp *Tap) Active() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.active)
}

// WaitActive waits until at most n connections are open, or timeout passes. It returns when
// that happened (the last close), and whether it did.
func (tp *Tap) WaitActive(n int, timeout time.Duration) (time.Time, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		tp.mu.Lock()
		count, last, ch := len(tp.active), tp.lastDone, tp.changed
		tp.mu.Unlock()
		if count <= n {
			return last, true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return time.Time{}, false
		}
	}
}

// CloseAll cuts every open connection (the server looks as if it died mid-stream).
func (tp *Tap) CloseAll() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for c := range tp.active {
		_ = c.Close()
	}
}

// ResetAll cuts every open connection with a TCP reset (RST), as a store that crashes or a
// middlebox that drops state does.
func (tp *Tap) ResetAll() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for c := range tp.active {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

func (tp *Tap) close() {
	_ = tp.ln.Close()
	tp.CloseAll()
	tp.wg.Wait()
}

// Blackhole returns an address on 127.0.0.1 where connecting hangs: a listener whose accept
// queue is full, so the kernel drops every further SYN, as with a host that has gone silent.
// It lasts until t ends.
func Blackhole(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted: room for one connection
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	filler, err := net.DialTimeout("tcp", addr, time.Second) // fills the queue
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("blackhole %s accepted a second connection", addr)
	}
	return addr
}
