package proxy

import (
	"errors"
	"io"
	"sync"

	"github.com/assetgateway/assetgateway/internal/objstore"
)

// copyBufSize is the size of the pooled buffers object bodies are copied through.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyBody streams src to w and tells read failures (the object store) from write failures
// (the client). A body that can write itself (a local file: sendfile; an S3 connection:
// splice) does so, and marks its source's failures with objstore.ErrBodyCut.
func copyBody(w io.Writer, src io.Reader) (n int64, readErr, writeErr error) {
	if wt, ok := src.(io.WriterTo); ok {
		n, err := wt.WriteTo(w)
		if errors.Is(err, objstore.ErrBodyCut) {
			return n, err, nil
		}
		return n, nil, err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, nil, werr
			}
		}
		if rerr == io.EOF {
			return n, nil, nil
		}
		if rerr != nil {
			return n, rerr, nil
		}
	}
}

// LimitedBody passes an upload body through, failing once more than limit bytes arrive
// (limit -1: no limit), and remembers why it failed.
type LimitedBody struct {
	r        io.Reader
	limit    int64
	n        int64
	tooLarge bool
	err      error // the underlying read error, if any
}

// NewLimitedBody returns r limited to limit bytes (-1: no limit).
func NewLimitedBody(r io.Reader, limit int64) *LimitedBody { return &LimitedBody{r: r, limit: limit} }

// TooLarge reports whether more than the limit arrived.
func (b *LimitedBody) TooLarge() bool { return b.tooLarge }

// Err is the first error the underlying reader returned (io.EOF aside), if any.
func (b *LimitedBody) Err() error { return b.err }

// errTooLarge is what LimitedBody returns past the limit.
var errTooLarge = errors.New("upload exceeds the token's size limit")

func (b *LimitedBody) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, errTooLarge
	}
	if b.limit >= 0 && int64(len(p)) > b.limit-b.n+1 {
		p = p[:b.limit-b.n+1] // read at most one byte past the limit
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.limit >= 0 && b.n > b.limit {
		b.tooLarge = true
		return n - int(b.n-b.limit), errTooLarge
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}
