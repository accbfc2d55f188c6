package objstore

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// fastConn is one keep-alive connection of the fast path.
type fastConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer // request heads are written through it
	// stop ends the watch on the current request's context (see exchange); it reports false
	// when the context already fired, so the connection's deadline may be spoiled.
	stop func() bool
	// idle closes the connection once it has sat in the pool for the idle timeout.
	idle *time.Timer
	// pooled is true while the connection sits in the pool; guarded by the pool's mutex.
	pooled bool
}

// aLongTimeAgo is a deadline in the past: it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// errStale marks a failure on a reused connection before any answer arrived.
var errStale = errors.New("stale connection")

func (r *fastReader) dial(ctx context.Context) (*fastConn, error) {
	c, err := r.s.tr.dialer.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return nil, err
	}
	if r.tls != nil {
		tc := tls.Client(c, r.tls)
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	fc := &fastConn{c: c, br: bufio.NewReaderSize(c, ioBufferSize), bw: bufio.NewWriterSize(c, 2048)}
	fc.idle = time.AfterFunc(r.s.tr.idleTimeout, func() { r.pool.expire(fc) })
	fc.idle.Stop()
	return fc, nil
}

func (fc *fastConn) close() {
	fc.idle.Stop()
	fc.c.Close()
}

// exchange writes req on fc and reads the response head within timeout. Until stop is
// called, the end of ctx cuts the connection's I/O short.
func (fc *fastConn) exchange(ctx context.Context, req *http.Request, timeout time.Duration) (*http.Response, error) {
	_ = fc.c.SetDeadline(time.Now().Add(timeout))
	fc.stop = context.AfterFunc(ctx, func() { _ = fc.c.SetDeadline(aLongTimeAgo) })
	if err := writeRequest(fc.bw, req); err != nil {
		fc.stop()
		return nil, fmt.Errorf("%w: %w", errStale, err)
	}
	if _, err := fc.br.Peek(1); err != nil {
		fc.stop()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("%w: %w", errStale, err)
		}
		return nil, err
	}
	resp, err := http.ReadResponse(fc.br, req)
	if err != nil {
		fc.stop()
		return nil, err
	}
	_ = fc.c.SetDeadline(time.Time{}) // the body streams as long as the client reads
	return resp, nil
}

// connPool keeps the fast path's idle connections, most recently used first (so a quiet
// period lets the others expire), at most maxIdleConns of them, each for the transport's
// idle timeout.
type connPool struct {
	mu      sync.Mutex
	idle    []*fastConn
	closed  bool
	timeout time.Duration
}

// get takes the most recently used idle connection, or nil.
func (p *connPool) get() *fastConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	fc := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	fc.pooled = false
	fc.idle.Stop()
	return fc
}

// put keeps fc for reuse, or closes it when the pool is full or closed.
func (p *connPool) put(fc *fastConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= maxIdleConns {
		fc.close()
		return
	}
	fc.pooled = true
	p.idle = append(p.idle, fc)
	fc.idle.Reset(p.timeout)
}

// expire closes fc if it is still idle in the pool.
func (p *connPool) expire(fc *fastConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !fc.pooled {
		return // taken meanwhile
	}
	for i, c := range p.idle {
		if c == fc {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	fc.pooled = false
	fc.c.Close()
}

// closeAll closes the idle connections; later puts close theirs.
func (p *connPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, fc := range p.idle {
		fc.close()
	}
	p.idle = nil
}

// idleCount is the number of pooled connections.
func (p *connPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// fastBody streams a length-delimited GET body straight off the connection, and returns the
// connection to the pool once the body has been read to its end. Read, WriteTo and Close are
// called from one goroutine.
type fastBody struct {
	fc        *fastConn
	remaining int64
	reuse     bool
	owner     *fastReader
	closed    bool
}

func (b *fastBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.fc.br.Read(p)
	b.remaining -= int64(n)
	switch {
	case err == io.EOF && b.remaining > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && b.remaining == 0:
		err = io.EOF
	}
	return n, err
}

// WriteTo sends what the reader already buffered, then lets w take the rest from the
// connection itself: for a *net.TCPConn, net/http's response writer splices it. An error of
// the store's side wraps ErrBodyCut; any other is w's (see sourceFailed).
//
// The buffered bytes go through w.Write: a small object that arrived with its answer's
// headers (most do) then leaves in the same write as the response's headers, where a
// ReadFrom would have cost net/http two.
func (b *fastBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if n := min(int64(b.fc.br.Buffered()), b.remaining); n > 0 {
		buf, _ := b.fc.br.Peek(int(n)) // buffered: no read, no error
		m, err := w.Write(buf)
		_, _ = b.fc.br.Discard(m)
		total += int64(m)
		b.remaining -= int64(m)
		if err != nil {
			return total, err
		}
	}
	if b.remaining <= 0 {
		return total, nil
	}
	m, err := io.Copy(w, &io.LimitedReader{R: b.fc.c, N: b.remaining})
	total += m
	b.remaining -= m
	switch {
	case err == nil && b.remaining > 0:
		return total, fmt.Errorf("%w: %d bytes short: %w", ErrBodyCut, b.remaining, io.ErrUnexpectedEOF)
	case err != nil && b.sourceFailed():
		return total, fmt.Errorf("%w: %w", ErrBodyCut, err)
	}
	return total, err
}

// sourceFailed tells, after a copy failed, whether the store's side did: a copy in the
// kernel (splice) reports one error for both sides, so the store's connection is probed
// without blocking. A reset or an early end there is the store's failure; data waiting, or
// nothing yet on a live connection, means the destination failed.
func (b *fastBody) sourceFailed() bool {
	// A deadline already past would fail the read before it looks at the socket.
	_ = b.fc.c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var one [1]byte
	n, err := b.fc.c.Read(one[:])
	var ne net.Error
	switch {
	case n > 0:
		return false
	case errors.As(err, &ne) && ne.Timeout():
		return false
	}
	return err != nil
}

// Close returns the connection to the pool if the body was read to its end, else closes it
// (an unread rest cannot be skipped cheaply).
func (b *fastBody) Close() error {
	if !b.closed {
		b.closed = true
		b.owner.release(b.fc, b.remaining == 0 && b.reuse)
	}
	return nil
}

// decodedBody reads a body net/http had to decode (chunked, or no length), then releases the
// connection like fastBody.
type decodedBody struct {
	resp   *http.Response
	fc     *fastConn
	owner  *fastReader
	eof    bool
	closed bool
}

func (b *decodedBody) Read(p []byte) (int, error) {
	n, err := b.resp.Body.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *decodedBody) Close() error {
	if !b.closed {
		b.closed = true
		b.resp.Body.Close()
		b.owner.release(b.fc, b.eof && !b.resp.Close)
	}
	return nil
}
