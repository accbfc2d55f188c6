package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// newAuth reads the payload mode and what the body must prove.
func newAuth(r *http.Request, req request) (*Auth, *Error) {
	c := req.fields.cred
	a := &Auth{
		AccessKeyID:   c.accessKeyID,
		Presigned:     req.presigned,
		Time:          req.time,
		SignedHeaders: req.fields.signedHeaders,
		SecurityToken: req.token,
		DecodedLength: r.ContentLength,
		length:        r.ContentLength,
	}
	if req.presigned {
		a.Expires = req.time.Add(req.fields.expires)
	}
	if m, ok := payloadNames[req.payload]; ok {
		a.Payload = m
	} else if b, err := hex.DecodeString(req.payload); err == nil && len(b) == sha256.Size {
		a.Payload, a.payloadSHA = PayloadSHA256, b
	} else {
		return nil, newError(CodeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "+
			"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "+
			"STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value.")
	}
	var e *Error
	if a.digests, e = headerDigests(r.Header); e != nil {
		return nil, e
	}
	if !a.Payload.Chunked() {
		return a, nil
	}
	if req.presigned {
		return nil, newError(CodeInvalidRequest, "An aws-chunked payload needs the Authorization header, not a presigned URL.")
	}
	a.DecodedLength = -1
	if s := r.Header.Get("X-Amz-Decoded-Content-Length"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, newError(CodeInvalidArgument, "x-amz-decoded-content-length must be a non-negative integer.")
		}
		a.DecodedLength = n
	}
	if a.Payload.trailer() {
		name := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer")))
		if checksumAlgs[name] == nil || len(r.Header.Values("X-Amz-Trailer")) != 1 {
			return nil, newError(CodeInvalidRequest, "The value specified in the x-amz-trailer header is not supported.")
		}
		a.trailer = name
		a.digests = append(a.digests, digest{name: name})
	}
	return a, nil
}

// Body returns r (the request body) decoded and verified. Its bytes are the object's bytes,
// aws-chunked framing removed. It returns io.EOF only after every check passed: payload
// SHA-256, each chunk signature, the final chunk, the trailer and its signature, every
// checksum and Content-MD5, and the exact length. On a failed check it returns an *Error
// before the body's final byte: at least the final byte is always held back, so a consumer
// that stops at the first error never holds the whole body. Errors from r itself come back as
// they are. Call Body once per request; the reader is not safe for concurrent use.
func (a *Auth) Body(r io.Reader) io.Reader {
	d := newDigester(a.digests)
	if a.Payload.Chunked() {
		return &holdback{r: newChunkedBody(r, a, d)}
	}
	b := &plainBody{r: r, want: a.length, d: d}
	if a.Payload == PayloadSHA256 {
		b.sha, b.wantSHA = sha256.New(), a.payloadSHA
	}
	return &holdback{r: b}
}

// StoredContentEncoding is the Content-Encoding S3 stores for a request with header h: the
// request's codings less aws-chunked, which only frames the upload; "" when none is left.
func StoredContentEncoding(h http.Header) string {
	var kept []string
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "aws-chunked") {
				kept = append(kept, c)
			}
		}
	}
	return strings.Join(kept, ",")
}

// plainBody counts and hashes an identity-encoded body, and checks at EOF.
type plainBody struct {
	r       io.Reader
	n, want int64 // bytes so far; Content-Length, -1 unknown
	sha     hash.Hash
	wantSHA []byte
	d       *digester
}

func (b *plainBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.want >= 0 && b.n > b.want {
		return 0, errIncomplete("The request body is longer than its Content-Length.")
	}
	if b.sha != nil {
		b.sha.Write(p[:n])
	}
	b.d.write(p[:n])
	if err != io.EOF {
		return n, err
	}
	if b.want >= 0 && b.n != b.want {
		return 0, errIncomplete("You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	if b.sha != nil && string(b.sha.Sum(nil)) != string(b.wantSHA) {
		return 0, errContentSHA256()
	}
	if e := b.d.check(); e != nil {
		return 0, e
	}
	return n, io.EOF
}

// holdback passes on r's bytes one behind: the last byte r produced stays here until r says
// io.EOF, which r does only once every check passed. Any other error drops that byte, so a
// failed check always surfaces before the body's final byte. Proven by TestBodyInvariant.
type holdback struct {
	r    io.Reader
	b    byte
	held bool
	eof  bool // r finished and passed; b, if held, is the final byte
	err  error
	one  [1]byte // room to read into when p has space for the held byte only
}

// maxEmptyReads bounds how often r may return nothing before we give up.
const maxEmptyReads = 100

func (h *holdback) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for empty := 0; !h.eof; {
		dst, scratch := p, false
		if h.held {
			dst = p[1:]
			if len(dst) == 0 {
				dst, scratch = h.one[:], true
			}
		}
		n, err := h.r.Read(dst)
		if err != nil && err != io.EOF {
			h.err, h.held = err, false
			return 0, err
		}
		h.eof = err == io.EOF
		if n == 0 {
			if empty++; empty == maxEmptyReads {
				h.err, h.held = io.ErrNoProgress, false
				return 0, h.err
			}
			continue
		}
		if scratch { // p holds the held byte only; the new one waits
			p[0], h.b = h.b, h.one[0]
			return 1, nil
		}
		end := n
		if h.held {
			p[0] = h.b
			end++
		}
		if h.eof {
			h.held = false
			return end, io.EOF
		}
		h.b, h.held = p[end-1], true
		if end > 1 {
			return end - 1, nil
		}
	}
	if h.held {
		p[0], h.held = h.b, false
		return 1, io.EOF
	}
	return 0, io.EOF
}
