package objstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// unsignedPayload sends the body as UNSIGNED-PAYLOAD: the SDK neither reads it ahead to hash
// it (impossible for an unseekable stream over http://) nor wraps it in aws-chunked encoding.
// Integrity rests on TLS (https) or TCP (http), as for any HTTP upload.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// Put implements Backend.
//
//   - Known size up to MaxSinglePut: one PutObject streaming Body as it arrives.
//   - Known size above it: a multipart upload whose parts stream straight from Body, one after
//     the other, each max(PartSize, ⌈Size/10000⌉) long.
//   - Unknown size: Body is read in PartSize buffers. If it ends within the first part it goes
//     up as one PutObject; otherwise as a multipart upload with up to PartConcurrency parts in
//     flight, holding at most PartSize × (PartConcurrency+1) bytes.
//
// Any failure — Body's error, ctx, the store — aborts the multipart upload, so no partial
// object is ever visible, and an object already stored under Key stays as it was.
func (s *S3) Put(ctx context.Context, in PutInput) (PutResult, error) {
	if in.Size < -1 {
		return PutResult{}, fmt.Errorf("s3 put %q: invalid size %d", in.Key, in.Size)
	}
	ct := in.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	in.ContentType = ct
	body := newUploadBody(ctx, in)
	var etag string
	var err error
	switch {
	case in.Size < 0:
		etag, err = s.putUnknownSize(ctx, in, body)
	case in.Size <= s.maxSinglePut:
		etag, err = s.putObject(ctx, in, body, in.Size, false)
	default:
		etag, err = s.putStreamedParts(ctx, in, body, in.Size)
	}
	if err != nil {
		return PutResult{}, putError(body, s.translate(ctx, "put", in.Key, err))
	}
	return PutResult{ETag: etag, Size: body.bytesRead()}, nil
}

// putObject sends r (exactly size bytes) as one PutObject. Only a rewindable r is retried.
// The store checks the content against in.SHA256 itself (x-amz-checksum-sha256), so a
// mismatch is refused before anything becomes visible; with in.IfNoneMatch it refuses to
// overwrite ("If-None-Match: *").
func (s *S3) putObject(ctx context.Context, in PutInput, r io.Reader, size int64, rewindable bool) (string, error) {
	if size == 0 {
		r, rewindable = nil, true // an empty body is sent as "Content-Length: 0", never read
	}
	opts := []func(*s3.Options){unsignedPayload}
	if !rewindable {
		opts = append(opts, noRetry)
	}
	req := &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &in.Key,
		Body:          r,
		ContentLength: aws.Int64(size),
		ContentType:   &in.ContentType,
		Metadata:      in.Metadata,
	}
	if in.SHA256 != nil {
		req.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(in.SHA256))
	}
	if in.IfNoneMatch {
		req.IfNoneMatch = aws.String("*")
	}
	out, err := s.api.PutObject(ctx, req, opts...)
	if err != nil {
		return "", err
	}
	return unquoteETag(aws.ToString(out.ETag)), nil
}

// putStreamedParts uploads a body of known size as a multipart upload whose parts are read
// from body while they are sent: nothing is buffered, so parts go one at a time.
func (s *S3) putStreamedParts(ctx context.Context, in PutInput, body *uploadBody, size int64) (string, error) {
	partSize := max(s.partSize, (size+MaxParts-1)/MaxParts)
	if partSize > MaxPartSize {
		return "", fmt.Errorf("%d bytes exceed the largest multipart upload (%d parts of %d bytes)", size, MaxParts, int64(MaxPartSize))
	}
	mp, err := s.startMultipart(ctx, in)
	if err != nil {
		return "", err
	}
	for num, off := int32(1), int64(0); off < size; num, off = num+1, off+partSize {
		n := min(partSize, size-off)
		if err := mp.uploadPart(ctx, num, io.LimitReader(body, n), n, false); err != nil {
			return "", mp.abort(ctx, err)
		}
	}
	return mp.complete(ctx, body)
}

// putUnknownSize uploads a body of unknown length through PartSize buffers taken from the
// pool (within the process's upload memory budget, if any). A body that fits one part is a
// single PutObject; a longer one is a multipart upload with up to PartConcurrency parts in
// flight. It never waits for a buffer while it holds one it has not sent, so uploads that
// wait on the budget cannot deadlock each other.
func (s *S3) putUnknownSize(ctx context.Context, in PutInput, body *uploadBody) (string, error) {
	la := &lookahead{r: body}
	buf, err := s.parts.acquire(ctx)
	if err != nil {
		return "", err
	}
	n, last, err := la.fill(*buf)
	if err != nil {
		s.parts.release(buf)
		return "", err
	}
	if last {
		defer s.parts.release(buf)
		return s.putObject(ctx, in, bytes.NewReader((*buf)[:n]), int64(n), true)
	}
	mp, err := s.startMultipart(ctx, in)
	if err != nil {
		s.parts.release(buf)
		return "", err
	}
	ps := newPartSender(ctx, mp, s.parts, s.concurrency)
	for num := int32(1); ; num++ {
		if num > MaxParts {
			s.parts.release(buf)
			ps.fail(fmt.Errorf("upload of unknown length exceeds %d parts of %d bytes", MaxParts, s.partSize))
			break
		}
		if !ps.send(num, buf, n) || last { // send owns buf from here on
			break
		}
		if buf, err = s.parts.acquire(ctx); err != nil {
			ps.fail(err)
			break
		}
		if n, last, err = la.fill(*buf); err != nil {
			s.parts.release(buf)
			ps.fail(err)
			break
		}
	}
	if err := ps.wait(); err != nil {
		return "", mp.abort(ctx, err)
	}
	return mp.complete(ctx, body)
}

// lookahead reads a body part by part and tells, with each full part, whether the body goes
// on — by reading one byte ahead, which it then puts first in the next part.
type lookahead struct {
	r    io.Reader
	next [1]byte
	has  bool
}

// fill reads into buf until it is full or the body ends; last reports that these n bytes
// end the body.
func (l *lookahead) fill(buf []byte) (n int, last bool, err error) {
	if l.has {
		buf[0], n, l.has = l.next[0], 1, false
	}
	m, err := io.ReadFull(l.r, buf[n:])
	n += m
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return n, true, nil
	case err != nil:
		return n, false, err
	}
	switch k, err := io.ReadFull(l.r, l.next[:]); {
	case k == 1:
		l.has = true
		return n, false, nil
	case err == io.EOF:
		return n, true, nil
	default:
		return n, false, err
	}
}

// multipart is one multipart upload in progress.
type multipart struct {
	s   *S3
	in  PutInput
	key string
	id  string

	mu    sync.Mutex
	parts []types.CompletedPart
}

func (s *S3) startMultipart(ctx context.Context, in PutInput) (*multipart, error) {
	key := in.Key
	out, err := s.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      &s.bucket,
		Key:         &key,
		ContentType: &in.ContentType,
		Metadata:    in.Metadata,
	})
	if err != nil {
		return nil, fmt.Errorf("create multipart upload: %w", err)
	}
	if aws.ToString(out.UploadId) == "" {
		return nil, errors.New("create multipart upload: store returned no upload id")
	}
	return &multipart{s: s, in: in, key: key, id: *out.UploadId}, nil
}

// uploadPart sends part num (exactly size bytes of r) and records it for complete. Only a
// rewindable r is retried.
func (m *multipart) uploadPart(ctx context.Context, num int32, r io.Reader, size int64, rewindable bool) error {
	etag, err := m.sendPart(ctx, num, r, size, rewindable)
	if err != nil {
		return err
	}
	// Only the number and ETag: per-part checksums must not be repeated in
	// CompleteMultipartUpload when the upload was created without a checksum algorithm.
	m.mu.Lock()
	m.parts = append(m.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: etag})
	m.mu.Unlock()
	return nil
}

// sendPart sends part num (exactly size bytes of r; an empty part reads nothing) and returns
// its ETag as the store spelled it. Only a rewindable r is retried.
func (m *multipart) sendPart(ctx context.Context, num int32, r io.Reader, size int64, rewindable bool) (*string, error) {
	if size == 0 {
		r, rewindable = nil, true
	}
	opts := []func(*s3.Options){unsignedPayload}
	if !rewindable {
		opts = append(opts, noRetry)
	}
	out, err := m.s.api.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:        &m.s.bucket,
		Key:           &m.key,
		UploadId:      &m.id,
		PartNumber:    aws.Int32(num),
		Body:          r,
		ContentLength: aws.Int64(size),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("upload part %d: %w", num, err)
	}
	return out.ETag, nil
}

// complete assembles the parts into the object and returns its ETag. On failure the upload is
// aborted.
// The upload's content must hash to m.in.SHA256 (when set): else it is aborted and nothing
// becomes visible. With m.in.IfNoneMatch the store refuses to complete over an existing object.
func (m *multipart) complete(ctx context.Context, body *uploadBody) (string, error) {
	if err := body.checkSum(m.in.SHA256); err != nil {
		return "", m.abort(ctx, err)
	}
	m.mu.Lock()
	parts := slices.Clone(m.parts)
	m.mu.Unlock()
	slices.SortFunc(parts, func(a, b types.CompletedPart) int {
		return int(aws.ToInt32(a.PartNumber)) - int(aws.ToInt32(b.PartNumber))
	})
	req := &s3.CompleteMultipartUploadInput{
		Bucket:          &m.s.bucket,
		Key:             &m.key,
		UploadId:        &m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if m.in.IfNoneMatch {
		req.IfNoneMatch = aws.String("*")
	}
	out, err := m.s.api.CompleteMultipartUpload(ctx, req)
	if err != nil {
		return "", m.abort(ctx, fmt.Errorf("complete multipart upload: %w", err))
	}
	return unquoteETag(aws.ToString(out.ETag)), nil
}

// abort discards the upload and its stored parts, on a fresh bounded context (ctx may be the
// reason the upload failed), and returns cause, with the abort's own failure noted.
func (m *multipart) abort(ctx context.Context, cause error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := m.s.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket:   &m.s.bucket,
		Key:      &m.key,
		UploadId: &m.id,
	})
	if err := ignoreNoSuchUpload(err); err != nil {
		return fmt.Errorf("%w (abort multipart upload %s also failed: %v)", cause, m.id, err)
	}
	return cause
}

// partSender uploads buffered parts with at most limit in flight. Its goroutines are owned by
// the upload that made it: wait must be called before the upload returns.
//
// When a part fails, the parts already in flight are left to finish rather than cut off, so
// that no part upload is still in progress at the store when the upload is aborted (a store
// may keep a part that arrives after the abort). Only ctx — the client gone, the server
// shutting down — cuts them short.
type partSender struct {
	ctx   context.Context
	mp    *multipart
	bufs  *bufPool
	slots chan struct{}
	wg    sync.WaitGroup

	mu  sync.Mutex
	err error
}

func newPartSender(ctx context.Context, mp *multipart, bufs *bufPool, limit int) *partSender {
	return &partSender{ctx: ctx, mp: mp, bufs: bufs, slots: make(chan struct{}, limit)}
}

// send uploads (*buf)[:n] as part num in the background and returns the buffer to the pool
// when done. It waits for a free slot first. It reports false, having returned the buffer,
// when the upload has already failed.
func (p *partSender) send(num int32, buf *[]byte, n int) bool {
	select {
	case p.slots <- struct{}{}:
	case <-p.ctx.Done():
		p.bufs.release(buf)
		p.fail(p.ctx.Err())
		return false
	}
	if p.failed() {
		<-p.slots
		p.bufs.release(buf)
		return false
	}
	p.wg.Add(1)
	go func() {
		defer func() {
			p.bufs.release(buf)
			<-p.slots
			p.wg.Done()
		}()
		if err := p.mp.uploadPart(p.ctx, num, bytes.NewReader((*buf)[:n]), int64(n), true); err != nil {
			p.fail(err)
		}
	}()
	return true
}

// fail records the upload's first error.
func (p *partSender) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *partSender) failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err != nil
}

// wait waits for every part in flight and returns the first error.
func (p *partSender) wait() error {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
