package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// ErrBodyTimeout is what a request body reads as once the gateway has cut it: it made no
// progress for Limits.BodyIdle, or it arrived slower than Limits.BodyMinRate.
var ErrBodyTimeout = errors.New("request body timed out")

var (
	errBodyStalled = fmt.Errorf("%w: no progress within the idle timeout", ErrBodyTimeout)
	errBodySlow    = fmt.Errorf("%w: slower than the minimum rate", ErrBodyTimeout)
)

// aLongTimeAgo is a deadline in the past: reads under it fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// body is a request body that must keep moving. Read is called by one goroutine at a time
// (not necessarily the handler's: an S3 upload reads in the SDK's goroutines); finish and
// the writer only look at the atomic flags.
type body struct {
	rc   io.ReadCloser
	ctl  *http.ResponseController
	idle time.Duration
	rate int64 // bytes per second; 0: no minimum

	base   time.Time     // the first Read; times below are since then
	set    time.Duration // when the read deadline was last pushed back
	waited time.Duration // time spent inside Read in the current window
	got    int64         // bytes read in the current window
	err    error         // sticky once cut
	done   atomic.Bool   // EOF seen: the connection's deadlines are net/http's again
	cut    atomic.Bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done.Load() {
		return b.rc.Read(p)
	}
	var start time.Duration // since b.base, set at the first Read: one wall-clock read a body
	if b.base.IsZero() {
		b.base = time.Now()
	} else {
		start = time.Since(b.base)
	}
	b.extend(start)
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		// net/http now reads the connection in the background with no deadline (HTTP/1);
		// setting one again would cancel the request when it fired.
		b.done.Store(true)
		return n, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, b.fail(errBodyStalled)
	case err != nil:
		return n, err
	}
	if b.rate > 0 {
		b.waited += time.Since(b.base) - start
		b.got += int64(n)
		if b.waited >= b.idle {
			if float64(b.got) < float64(b.rate)*b.waited.Seconds() {
				return n, b.fail(errBodySlow)
			}
			b.waited, b.got = 0, 0
		}
	}
	return n, nil
}

func (b *body) Close() error { return b.rc.Close() }

// extend pushes the read deadline back to at least now+idle. Setting one costs little on
// HTTP/1 but a message to the connection's goroutine on HTTP/2, so it is done at most every
// idle/16, each time to now + idle + idle/16.
func (b *body) extend(now time.Duration) {
	if now-b.set < b.idle/16 {
		return
	}
	b.set = now
	_ = b.ctl.SetReadDeadline(b.base.Add(now + b.idle + b.idle/16))
}

// fail cuts the body: this and every later Read return err, and so does any read net/http
// would make of the rest (the deadline is in the past), so the connection is not reused.
func (b *body) fail(err error) error {
	b.err = err
	b.cut.Store(true)
	_ = b.ctl.SetReadDeadline(aLongTimeAgo)
	return err
}

// finish runs after the handler on HTTP/1: net/http may then read up to 256 KiB of an unread
// body to reuse the connection, and that read gets one idle timeout, not forever.
func (b *body) finish() {
	if !b.done.Load() && !b.cut.Load() {
		_ = b.ctl.SetReadDeadline(time.Now().Add(b.idle))
	}
}
