package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"slices"
	"strings"
)

// Limits of the aws-chunked decoder. Chunk data streams through without being buffered, so
// memory per body is the line buffer and a few hashes whatever the chunk sizes.
const (
	maxLine = 4 << 10 // a chunk header or trailer line, CRLF included
	// maxSignedChunk caps how much unverified data one signed chunk may carry (clients send
	// 8 KiB to 1 MiB).
	maxSignedChunk = 16 << 20
	// maxUnsignedChunk caps an unsigned chunk when no decoded length bounds it: S3's largest
	// single PUT. aws-sdk-go-v2 sends the whole body as one unsigned chunk.
	maxUnsignedChunk = 5 << 30
	maxTrailerLines  = 8
)

const (
	chunkSignatureExt = "chunk-signature="
	trailerSignature  = "x-amz-trailer-signature"
)

// chunkedBody decodes an aws-chunked body and verifies it as it goes. It returns io.EOF only
// after the final chunk, the trailer and every digest checked out; holdback keeps the last
// data byte until then.
type chunkedBody struct {
	src      *bufio.Reader
	signer   *signer   // nil: unsigned chunks
	prevSig  string    // the signature the next chunk chains from
	chunkSHA hash.Hash // SHA-256 of the current chunk (signed chunks)
	chunkSig string    // the signature the current chunk claims
	trailer  string    // the checksum trailer's name, "" for none
	d        *digester

	remaining int64 // data bytes left in the current chunk
	inChunk   bool  // a data chunk's CRLF and signature are still due
	decoded   int64 // data bytes so far
	want      int64 // x-amz-decoded-content-length, -1 unknown
	done      bool
	err       error
}

func newChunkedBody(r io.Reader, a *Auth, d *digester) *chunkedBody {
	c := &chunkedBody{
		src:     bufio.NewReaderSize(r, maxLine),
		trailer: a.trailer,
		d:       d,
		want:    a.DecodedLength,
	}
	if a.Payload.signedChunks() {
		c.signer, c.prevSig, c.chunkSHA = a.signer, a.seed, sha256.New()
	}
	return c
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.remaining == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.src.Read(p)
	c.remaining -= int64(n)
	c.decoded += int64(n)
	if c.chunkSHA != nil {
		c.chunkSHA.Write(p[:n])
	}
	c.d.write(p[:n])
	if err == io.EOF {
		err = errTruncated()
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// next finishes the current chunk (CRLF, signature) and reads the next chunk header; at the
// final chunk it verifies everything that is left.
func (c *chunkedBody) next() error {
	if c.inChunk {
		if err := c.expect("\r\n"); err != nil {
			return err
		}
		if err := c.verifyChunk(false); err != nil {
			return err
		}
		c.inChunk = false
	}
	size, sig, err := c.readHeader()
	if err != nil {
		return err
	}
	c.chunkSig = sig
	if size == 0 {
		return c.finish()
	}
	if c.want >= 0 && size > c.want-c.decoded {
		return newError(CodeInvalidChunkSize, "A chunk goes past x-amz-decoded-content-length.")
	}
	c.remaining, c.inChunk = size, true
	if c.chunkSHA != nil {
		c.chunkSHA.Reset()
	}
	return nil
}

// verifyChunk checks the current (or the final, empty) chunk's signature and moves the chain
// on. Unsigned chunks pass.
func (c *chunkedBody) verifyChunk(final bool) error {
	if c.signer == nil {
		return nil
	}
	sum := emptySum[:]
	if !final {
		sum = c.chunkSHA.Sum(nil)
	}
	want := c.signer.chunkSignature(c.prevSig, sum)
	if !equalSignature(c.chunkSig, want) {
		return errSignature()
	}
	c.prevSig = want
	return nil
}

var emptySum = sha256.Sum256(nil)

// finish handles the final zero-length chunk: its signature, the length, the trailer, the
// end of the stream, and the digests.
func (c *chunkedBody) finish() error {
	if err := c.verifyChunk(true); err != nil {
		return err
	}
	if c.want >= 0 && c.decoded != c.want {
		return errIncomplete("The decoded body is shorter than x-amz-decoded-content-length.")
	}
	var err error
	if c.trailer != "" {
		err = c.readTrailer()
	} else {
		err = c.readEnd()
	}
	if err != nil {
		return err
	}
	if e := c.d.check(); e != nil {
		return e
	}
	c.done = true
	return nil
}

// readHeader reads "<hex size>[;chunk-signature=<sig>]\r\n". Signed chunks need exactly that
// extension; unsigned chunks ignore extensions.
func (c *chunkedBody) readHeader() (int64, string, error) {
	line, err := c.line()
	if errors.Is(err, errEOFAtLine) {
		return 0, "", errTruncated()
	}
	if err != nil {
		return 0, "", err
	}
	line, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return 0, "", errFraming("A chunk header must end with CRLF.")
	}
	sizeHex, ext, hasExt := bytes.Cut(line, []byte(";"))
	size, ok := parseHexSize(sizeHex)
	limit := int64(maxUnsignedChunk)
	if c.signer != nil {
		limit = maxSignedChunk
	}
	if !ok || size > limit {
		return 0, "", newError(CodeInvalidChunkSize, "A chunk size is malformed or too large.")
	}
	if c.signer == nil {
		return size, "", nil
	}
	sig, ok := bytes.CutPrefix(ext, []byte(chunkSignatureExt))
	if !hasExt || !ok || len(sig) != 64 || !isLowerHex(string(sig)) {
		return 0, "", errSignature()
	}
	return size, string(sig), nil
}

// parseHexSize parses 1 to 15 hex digits (so the size fits an int64).
func parseHexSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// readTrailer reads the trailer up to the end of the stream: the declared checksum as
// "name:value", then for signed chunks x-amz-trailer-signature, which signs the canonical
// "name:value\n" of the checksum. Lines end in CRLF or LF, and empty lines are skipped:
// minio-go sends "name:value\n\r\n" before the signature and an extra CRLF at the end.
func (c *chunkedBody) readTrailer() error {
	var canonical []byte
	var sig string
	seen := false
	for i := 0; ; i++ {
		line, err := c.line()
		if errors.Is(err, errEOFAtLine) {
			break
		}
		if err != nil {
			return err
		}
		if i == maxTrailerLines {
			return errTrailer("The trailer has too many lines.")
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			continue
		}
		k, v, ok := strings.Cut(string(line), ":")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch {
		case !ok || sig != "":
			return errTrailer("The trailer is malformed.")
		case k == trailerSignature && c.signer != nil:
			sig = v
		case k == c.trailer && !seen:
			want, ok := decodeDigest(k, v)
			if !ok {
				return errTrailer("The trailer " + k + " is malformed.")
			}
			c.d.setTrailer(k, want)
			canonical = append(canonical, k+":"+v+"\n"...)
			seen = true
		default:
			return errTrailer("The trailer carries an unexpected or repeated header.")
		}
	}
	if !seen {
		return errTrailer("The trailer does not carry " + c.trailer + ".")
	}
	if c.signer == nil {
		return nil
	}
	if sig == "" {
		return errTrailer("The trailer is not signed.")
	}
	if !equalSignature(sig, c.signer.trailerSignature(c.prevSig, canonical)) {
		return errSignature()
	}
	return nil
}

// readEnd reads the empty line after the final chunk (tolerating its absence at the end of the
// stream) and then the end of the stream.
func (c *chunkedBody) readEnd() error {
	line, err := c.line()
	switch {
	case errors.Is(err, errEOFAtLine):
		return nil
	case err != nil:
		return err
	case !slices.Equal(line, []byte("\r\n")):
		return errFraming("The final chunk must be followed by an empty line.")
	}
	return c.expectEOF()
}

// errEOFAtLine marks a stream that ended cleanly where a line would start.
var errEOFAtLine = errors.New("sigv4: end of stream at a line")

// line reads one line, LF included, of at most maxLine bytes. The slice is valid until the
// next read.
func (c *chunkedBody) line() ([]byte, error) {
	line, err := c.src.ReadSlice('\n')
	switch {
	case err == nil:
		return line, nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errFraming("A chunk header or trailer line is too long.")
	case err == io.EOF && len(line) == 0:
		return nil, errEOFAtLine
	case err == io.EOF:
		return nil, errTruncated()
	}
	return nil, err
}

// expect reads exactly s.
func (c *chunkedBody) expect(s string) error {
	for i := 0; i < len(s); i++ {
		b, err := c.src.ReadByte()
		switch {
		case err == io.EOF:
			return errTruncated()
		case err != nil:
			return err
		case b != s[i]:
			return errFraming("Chunk data must be followed by CRLF.")
		}
	}
	return nil
}

// expectEOF checks nothing follows the end of the aws-chunked stream.
func (c *chunkedBody) expectEOF() error {
	_, err := c.src.ReadByte()
	switch err {
	case io.EOF:
		return nil
	case nil:
		return errFraming("Data follows the end of the aws-chunked body.")
	}
	return err
}

func errTruncated() *Error {
	return errIncomplete("The aws-chunked body ended before its final chunk.")
}

func errFraming(msg string) *Error { return newError(CodeInvalidRequest, msg) }

func errTrailer(msg string) *Error { return newError(CodeMalformedTrailer, msg) }
