package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The encoder below follows the AWS documentation (sigv4-streaming, sigv4-streaming-trailers)
// and is written apart from the decoder: its own HMACs, its own framing.

func mac(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// chunkEncoder writes aws-chunked bodies. key nil means unsigned chunks.
type chunkEncoder struct {
	key          []byte
	amzDate      string
	scope        string
	seed         string
	trailer      string // checksum trailer name, "" for none
	trailerValue string // overrides the computed trailer value when not empty
}

func newChunkEncoder(secret, amzDate, region, seed string) chunkEncoder {
	date := amzDate[:8]
	key := mac(mac(mac(mac([]byte("AWS4"+secret), date), region), "s3"), "aws4_request")
	return chunkEncoder{key: key, amzDate: amzDate, scope: date + "/" + region + "/s3/aws4_request", seed: seed}
}

func (e chunkEncoder) chunkSig(prev string, data []byte) string {
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + e.amzDate + "\n" + e.scope + "\n" + prev + "\n" + sha256Hex(nil) + "\n" + sha256Hex(data)
	return hex.EncodeToString(mac(e.key, sts))
}

func (e chunkEncoder) trailerSig(prev, canonical string) string {
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + e.amzDate + "\n" + e.scope + "\n" + prev + "\n" + sha256Hex([]byte(canonical))
	return hex.EncodeToString(mac(e.key, sts))
}

// testHashes are independent constructors for each checksum trailer.
var testHashes = map[string]func() hash.Hash{
	"x-amz-checksum-crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"x-amz-checksum-crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"x-amz-checksum-crc64nvme": func() hash.Hash { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) },
	"x-amz-checksum-sha1":      sha1.New,
	"x-amz-checksum-sha256":    sha256.New,
	"x-amz-checksum-sha512":    sha512.New,
	"x-amz-checksum-md5":       md5.New,
}

func checksumOf(name string, data []byte) string {
	h := testHashes[name]()
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// encode frames data in chunks of size (the last one shorter), the final zero-length chunk,
// and the trailer. It returns the body and the chunk signatures in order.
func (e chunkEncoder) encode(data []byte, size int) ([]byte, []string) {
	var b bytes.Buffer
	var sigs []string
	prev := e.seed
	for off := 0; ; off += size {
		chunk := data[min(off, len(data)):min(off+size, len(data))]
		fmt.Fprintf(&b, "%x", len(chunk))
		if e.key != nil {
			prev = e.chunkSig(prev, chunk)
			sigs = append(sigs, prev)
			b.WriteString(";chunk-signature=" + prev)
		}
		b.WriteString("\r\n")
		if len(chunk) == 0 {
			break
		}
		b.Write(chunk)
		b.WriteString("\r\n")
	}
	if e.trailer != "" {
		v := e.trailerValue
		if v == "" {
			v = checksumOf(e.trailer, data)
		}
		line := e.trailer + ":" + v
		b.WriteString(line + "\r\n")
		if e.key != nil {
			sig := e.trailerSig(prev, line+"\n")
			sigs = append(sigs, sig)
			b.WriteString("x-amz-trailer-signature:" + sig + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes(), sigs
}

const (
	docAKID   = "AKIAIOSFODNN7EXAMPLE"
	docSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// docRequest is the PUT of the AWS documentation's chunked upload examples.
func docRequest(t *testing.T, signedHeaders, seed string, extra map[string]string, body []byte) *http.Request {
	r, err := http.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"X-Amz-Date":                   "20130524T000000Z",
		"X-Amz-Storage-Class":          "REDUCED_REDUNDANCY",
		"Content-Encoding":             "aws-chunked",
		"X-Amz-Decoded-Content-Length": "66560",
		"Authorization": "AWS4-HMAC-SHA256 Credential=" + docAKID + "/20130524/us-east-1/s3/aws4_request," +
			"SignedHeaders=" + signedHeaders + ",Signature=" + seed,
	} {
		r.Header.Set(k, v)
	}
	for k, v := range extra {
		r.Header.Set(k, v)
	}
	return wire(t, r)
}

// TestAWSDocumentationVectors checks the published examples: the seed signatures, every
// chunk signature, and the trailer signature, and that the bodies decode.
func TestAWSDocumentationVectors(t *testing.T) {
	data := bytes.Repeat([]byte{'a'}, 65*1024)
	tests := []struct {
		name, signedHeaders, seed string
		extra                     map[string]string
		trailer                   string
		want                      []string
	}{
		{
			name:          "signed chunks",
			signedHeaders: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
			seed:          "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
			extra:         map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
			want: []string{
				"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
				"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
				"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
			},
		},
		{
			name:          "signed chunks and trailer",
			signedHeaders: "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
			seed:          "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
			extra: map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
				"X-Amz-Trailer": "x-amz-checksum-crc32c"},
			trailer: "x-amz-checksum-crc32c",
			want: []string{
				"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
				"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
				"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
				"d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := newChunkEncoder(docSecret, "20130524T000000Z", "us-east-1", tt.seed)
			enc.trailer = tt.trailer
			body, sigs := enc.encode(data, 64*1024)
			if got := strings.Join(sigs, ","); got != strings.Join(tt.want, ",") {
				t.Fatalf("encoder signatures %s, want the documentation's %s", got, tt.want)
			}
			if tt.trailer != "" && !bytes.Contains(body, []byte("x-amz-checksum-crc32c:sOO8/Q==\r\n")) {
				t.Fatalf("trailer is not the documentation's sOO8/Q==")
			}
			if tt.trailer == "" && len(body) != 66824 {
				t.Fatalf("encoded length %d, want the documentation's 66824", len(body))
			}
			v := &Verifier{Region: "us-east-1", Secret: secrets(map[string]string{docAKID: docSecret})}
			a, err := v.verify(docRequest(t, tt.signedHeaders, tt.seed, tt.extra, body), docTime)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if a.DecodedLength != 66560 {
				t.Fatalf("DecodedLength %d, want 66560", a.DecodedLength)
			}
			got, err := readAll(a.Body(bytes.NewReader(body)), 4000)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("decoded %d bytes, %v; want %d bytes of 'a'", len(got), err, len(data))
			}
		})
	}
}

// chunkedCase is an aws-chunked upload signed by aws-sdk-go-v2 (the seed) and framed by
// chunkEncoder.
type chunkedCase struct {
	mode       PayloadMode
	trailer    string
	data       []byte
	size       int               // chunk size
	decoded    string            // x-amz-decoded-content-length; "" means len(data)
	headers    map[string]string // extra signed headers
	trailerVal string
}

// request returns the server-side request and the encoded body.
func (c chunkedCase) request(t testing.TB) (*http.Request, []byte) {
	t.Helper()
	decoded := c.decoded
	if decoded == "" {
		decoded = strconv.Itoa(len(c.data))
	}
	h := map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": decoded}
	if c.trailer != "" {
		h["X-Amz-Trailer"] = c.trailer
	}
	for k, v := range c.headers {
		h[k] = v
	}
	enc := newChunkEncoder(testSecret, testTime.Format(iso8601), testRegion, strings.Repeat("0", 64))
	if !c.mode.signedChunks() {
		enc.key = nil
	}
	enc.trailer, enc.trailerValue = c.trailer, c.trailerVal
	dummy, _ := enc.encode(c.data, c.size) // same length as the real one
	s := signing{method: "PUT", key: "up/load", payload: c.mode.String(), headers: h, body: dummy}
	r := s.signed(t)
	if enc.key != nil {
		_, enc.seed, _ = strings.Cut(r.Header.Get("Authorization"), "Signature=")
	}
	body, _ := enc.encode(c.data, c.size)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r, body
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

var chunkedModes = []PayloadMode{PayloadStreamingSigned, PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer}

func TestChunkedRoundTrip(t *testing.T) {
	for _, mode := range chunkedModes {
		for name := range testHashes {
			if !mode.trailer() && name != "x-amz-checksum-sha256" {
				continue
			}
			for _, n := range []int{0, 1, 8191, 70000} {
				c := chunkedCase{mode: mode, data: testData(n), size: 8192}
				if mode.trailer() {
					c.trailer = name
				}
				t.Run(fmt.Sprintf("%v/%s/%d", mode, c.trailer, n), func(t *testing.T) {
					r, body := c.request(t)
					a, err := testVerifier().verify(r, testTime)
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					for _, step := range []int{1, 3, 4096, 1 << 17} {
						got, err := readAll(a.Body(bytes.NewReader(body)), step)
						if err != nil || !bytes.Equal(got, c.data) {
							t.Fatalf("read by %d: got %d bytes, %v; want %d bytes", step, len(got), err, n)
						}
					}
				})
			}
		}
	}
}

// TestChunkedHeaderChecksum covers a checksum sent as a header with an aws-chunked body.
func TestChunkedHeaderChecksum(t *testing.T) {
	data := testData(20000)
	for _, tt := range []struct {
		name, value, want string
	}{
		{"match", checksumOf("x-amz-checksum-crc32c", data), ""},
		{"mismatch", checksumOf("x-amz-checksum-crc32c", data[1:]), CodeBadDigest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := chunkedCase{mode: PayloadStreamingSigned, data: data, size: 8192,
				headers: map[string]string{"X-Amz-Checksum-Crc32c": tt.value}}
			r, body := c.request(t)
			a, err := testVerifier().verify(r, testTime)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(a.Body(bytes.NewReader(body)), 1000)
			if tt.want == "" {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("got %d bytes, %v", len(got), err)
				}
				return
			}
			wantCode(t, err, tt.want)
			if len(got) >= len(data) {
				t.Fatalf("released %d of %d bytes before failing", len(got), len(data))
			}
		})
	}
}

// flip changes one byte of body inside the first occurrence of part.
func flip(body, part []byte) []byte {
	i := bytes.Index(body, part)
	if i < 0 {
		panic("part not found")
	}
	out := bytes.Clone(body)
	out[i+len(part)/2] ^= 1
	return out
}

func replace(body []byte, old, new string) []byte {
	if !bytes.Contains(body, []byte(old)) {
		panic("not found: " + old)
	}
	return bytes.Replace(body, []byte(old), []byte(new), 1)
}

// invariantCase is a body broken in one way, and the error it must bring.
type invariantCase struct {
	name string
	c    chunkedCase
	edit func(body []byte) []byte
	want string
}

var sigRE = regexp.MustCompile(`signature[=:]([0-9a-f]{64})`)

// sigsOf returns the chunk signatures in body, then the trailer's.
func sigsOf(body []byte) []string {
	var sigs []string
	for _, m := range sigRE.FindAllSubmatch(body, -1) {
		sigs = append(sigs, string(m[1]))
	}
	return sigs
}

// frameLen is the encoded length of one signed 8 KiB chunk.
const frameLen = 4 + len(";chunk-signature=") + 64 + 2 + 8192 + 2

// invariantBases are three-chunk uploads: signed with a trailer, unsigned with a trailer,
// signed without.
func invariantBases(data []byte) (signed, unsigned, plain chunkedCase) {
	return chunkedCase{mode: PayloadStreamingSignedTrailer, trailer: "x-amz-checksum-crc32", data: data, size: 8192},
		chunkedCase{mode: PayloadStreamingUnsignedTrailer, trailer: "x-amz-checksum-sha1", data: data, size: 8192},
		chunkedCase{mode: PayloadStreamingSigned, data: data, size: 8192}
}

// tamperCases break signatures, chunk order and framing.
func tamperCases(data []byte) []invariantCase {
	signed, unsigned, plain := invariantBases(data)
	return []invariantCase{
		{"middle chunk data", signed, func(b []byte) []byte { return flip(b, data[9000:9040]) }, CodeSignatureDoesNotMatch},
		{"last chunk data", signed, func(b []byte) []byte { return flip(b, data[len(data)-8:]) }, CodeSignatureDoesNotMatch},
		{"first chunk signature", signed, func(b []byte) []byte { return replace(b, sigsOf(b)[0][:8], "00000000") }, CodeSignatureDoesNotMatch},
		{"final chunk signature", plain, func(b []byte) []byte { s := sigsOf(b); return replace(b, s[len(s)-1], strings.Repeat("1", 64)) }, CodeSignatureDoesNotMatch},
		{"chunk signature not hex", plain, func(b []byte) []byte { return replace(b, sigsOf(b)[1][:2], "ZZ") }, CodeSignatureDoesNotMatch},
		{"chunk signature missing", plain, func(b []byte) []byte { return replace(b, ";chunk-signature="+sigsOf(b)[1], "") }, CodeSignatureDoesNotMatch},
		{"chunks swapped", plain, func(b []byte) []byte {
			out := bytes.Clone(b)
			copy(out[frameLen:], b[2*frameLen:3*frameLen])
			copy(out[2*frameLen:], b[frameLen:2*frameLen])
			return out
		}, CodeSignatureDoesNotMatch},
		{"chunk header over 16 MiB", plain, func(b []byte) []byte { return replace(b, "2000;", "1000001;") }, CodeInvalidChunkSize},
		{"chunk size not hex", unsigned, func(b []byte) []byte { return replace(b, "2000\r\n", "2g00\r\n") }, CodeInvalidChunkSize},
		{"chunk size too long", unsigned, func(b []byte) []byte { return replace(b, "2000\r\n", "00000000000000002000\r\n") }, CodeInvalidChunkSize},
		{"chunk header line too long", unsigned, func(b []byte) []byte { return replace(b, "2000\r\n", "2000;"+strings.Repeat("x", maxLine)+"\r\n") }, CodeInvalidRequest},
		{"chunk header without CR", unsigned, func(b []byte) []byte { return replace(b, "2000\r\n", "2000\n") }, CodeInvalidRequest},
		{"no CRLF after chunk data", unsigned, func(b []byte) []byte { return replace(b, "\r\n2000\r\n", "XX2000\r\n") }, CodeInvalidRequest},
		{"data after the end", plain, func(b []byte) []byte { return append(bytes.Clone(b), 'x') }, CodeInvalidRequest},
		{"no empty line after final chunk", plain, func(b []byte) []byte { return append(bytes.Clone(b[:len(b)-2]), "zz\r\n"...) }, CodeInvalidRequest},
		{"garbage", plain, func([]byte) []byte { return []byte("hello, world\r\n") }, CodeInvalidChunkSize},
		{"empty body", plain, func([]byte) []byte { return nil }, CodeIncompleteBody},
	}
}

// lengthAndTrailerCases break lengths, checksums and trailers.
func lengthAndTrailerCases(data []byte) []invariantCase {
	signed, unsigned, plain := invariantBases(data)
	return []invariantCase{
		{"final chunk dropped", plain, func(b []byte) []byte { return b[:3*frameLen] }, CodeIncompleteBody},
		{"final chunk dropped, trailer kept", signed, func(b []byte) []byte {
			return append(b[:3*frameLen:3*frameLen], "x-amz-checksum-crc32:AAAAAA==\r\n\r\n"...)
		}, CodeInvalidChunkSize},
		{"truncated in a chunk", plain, func(b []byte) []byte { return b[:len(b)-frameLen/2] }, CodeIncompleteBody},
		{"truncated in the final chunk header", plain, func(b []byte) []byte { return b[:3*frameLen+20] }, CodeIncompleteBody},
		{"decoded length too small", chunkedCase{mode: PayloadStreamingSigned, data: data, size: 8192, decoded: strconv.Itoa(len(data) - 1)}, nil, CodeInvalidChunkSize},
		{"decoded length too large", chunkedCase{mode: PayloadStreamingSigned, data: data, size: 8192, decoded: strconv.Itoa(len(data) + 1)}, nil, CodeIncompleteBody},
		{"unsigned decoded length too large", chunkedCase{mode: PayloadStreamingUnsignedTrailer, trailer: "x-amz-checksum-crc32", data: data, size: 8192, decoded: strconv.Itoa(len(data) + 1)}, nil, CodeIncompleteBody},
		{"signed trailer, wrong checksum", chunkedCase{mode: PayloadStreamingSignedTrailer, trailer: "x-amz-checksum-crc32", data: data, size: 8192, trailerVal: checksumOf("x-amz-checksum-crc32", data[1:])}, nil, CodeBadDigest},
		{"unsigned trailer, wrong checksum", chunkedCase{mode: PayloadStreamingUnsignedTrailer, trailer: "x-amz-checksum-crc64nvme", data: data, size: 8192, trailerVal: checksumOf("x-amz-checksum-crc64nvme", data[1:])}, nil, CodeBadDigest},
		{"unsigned trailer, tampered data", unsigned, func(b []byte) []byte { return flip(b, data[100:140]) }, CodeBadDigest},
		{"unsigned trailer, tampered last byte", unsigned, func(b []byte) []byte { return flip(b, data[len(data)-1:]) }, CodeBadDigest},
		{"trailer value tampered", signed, func(b []byte) []byte {
			return replace(b, "x-amz-checksum-crc32:"+checksumOf("x-amz-checksum-crc32", data), "x-amz-checksum-crc32:"+checksumOf("x-amz-checksum-crc32", nil))
		}, CodeSignatureDoesNotMatch},
		{"trailer signature tampered", signed, func(b []byte) []byte { s := sigsOf(b); return replace(b, s[len(s)-1][:4], "ffff") }, CodeSignatureDoesNotMatch},
		{"trailer signature missing", signed, func(b []byte) []byte {
			s := sigsOf(b)
			return replace(b, "x-amz-trailer-signature:"+s[len(s)-1]+"\r\n", "")
		}, CodeMalformedTrailer},
		{"trailer missing", unsigned, func(b []byte) []byte {
			return replace(b, "x-amz-checksum-sha1:"+checksumOf("x-amz-checksum-sha1", data)+"\r\n", "")
		}, CodeMalformedTrailer},
		{"trailer of another name", unsigned, func(b []byte) []byte { return replace(b, "x-amz-checksum-sha1:", "x-amz-checksum-sha2:") }, CodeMalformedTrailer},
		{"extra trailer header", unsigned, func(b []byte) []byte { return replace(b, "\r\n0\r\n", "\r\n0\r\nx-amz-meta-a:b\r\n") }, CodeMalformedTrailer},
		{"trailer without colon", unsigned, func(b []byte) []byte { return replace(b, "x-amz-checksum-sha1:", "x-amz-checksum-sha1 ") }, CodeMalformedTrailer},
		{"trailer value not base64", unsigned, func(b []byte) []byte { return replace(b, "x-amz-checksum-sha1:", "x-amz-checksum-sha1:!") }, CodeMalformedTrailer},
		{"trailer with too many lines", unsigned, func(b []byte) []byte { return append(bytes.Clone(b), strings.Repeat("\r\n", maxTrailerLines)...) }, CodeMalformedTrailer},
		{"header after the trailer signature", signed, func(b []byte) []byte { return append(bytes.Clone(b[:len(b)-2]), "x-amz-meta-a:b\r\n\r\n"...) }, CodeMalformedTrailer},
		{"signature in unsigned trailer", unsigned, func(b []byte) []byte {
			return replace(b, "\r\n0\r\n", "\r\n0\r\nx-amz-trailer-signature:"+strings.Repeat("0", 64)+"\r\n")
		}, CodeMalformedTrailer},
		{"header checksum mismatch", chunkedCase{mode: PayloadStreamingSigned, data: data, size: 8192, headers: map[string]string{"X-Amz-Checksum-Sha256": checksumOf("x-amz-checksum-sha256", nil)}}, nil, CodeBadDigest},
	}
}

// TestBodyInvariant is the central safety property: whatever fails, the reader returns the
// right error and never the body's final byte.
func TestBodyInvariant(t *testing.T) {
	data := testData(3 * 8192) // three full chunks, so two can be swapped
	for _, tt := range append(tamperCases(data), lengthAndTrailerCases(data)...) {
		t.Run(tt.name, func(t *testing.T) {
			r, body := tt.c.request(t)
			if tt.edit != nil {
				body = tt.edit(body)
			}
			a, err := testVerifier().verify(r, testTime)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			for _, step := range []int{1, 5000, 1 << 16} {
				checkRefused(t, a.Body(bytes.NewReader(body)), step, len(data), tt.want)
			}
		})
	}
}

// checkRefused reads body and wants the error code, fewer than total bytes, and the error
// again on the next read.
func checkRefused(t *testing.T, body io.Reader, step, total int, code string) {
	t.Helper()
	got, err := readAll(body, step)
	if err == nil {
		t.Fatalf("read by %d: got all %d bytes and no error, want %s", step, len(got), code)
	}
	wantCode(t, err, code)
	if len(got) >= total {
		t.Fatalf("read by %d: released %d bytes of %d before failing", step, len(got), total)
	}
	if n, again := body.Read(make([]byte, 10)); n != 0 || again != err {
		t.Fatalf("after the error: got %d, %v; want 0, the same error", n, again)
	}
}

// TestPlainBodyInvariant is the same property for identity-encoded bodies.
func TestPlainBodyInvariant(t *testing.T) {
	data := testData(10000)
	sum := sha256.Sum256(data)
	tests := []struct {
		name    string
		payload string
		headers map[string]string
		send    []byte
		want    string
	}{
		{"body differs from its sha256", hex.EncodeToString(sum[:]), nil, flip(data, data[9990:]), CodeContentSHA256Mismatch},
		{"body shorter", hex.EncodeToString(sum[:]), nil, data[:9999], CodeIncompleteBody},
		{"body longer", "UNSIGNED-PAYLOAD", nil, append(bytes.Clone(data), 0), CodeIncompleteBody},
		{"crc32c header mismatch", "UNSIGNED-PAYLOAD", map[string]string{"X-Amz-Checksum-Crc32c": checksumOf("x-amz-checksum-crc32c", data[1:])}, data, CodeBadDigest},
		{"sha1 header mismatch", "UNSIGNED-PAYLOAD", map[string]string{"X-Amz-Checksum-Sha1": checksumOf("x-amz-checksum-sha1", data[1:])}, data, CodeBadDigest},
		{"crc64nvme header mismatch", hex.EncodeToString(sum[:]), map[string]string{"X-Amz-Checksum-Crc64nvme": checksumOf("x-amz-checksum-crc64nvme", data[1:])}, data, CodeBadDigest},
		{"content-md5 mismatch", "UNSIGNED-PAYLOAD", map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, data, CodeBadDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := signing{method: "PUT", key: "k", body: data, payload: tt.payload, headers: tt.headers}
			r := s.signed(t)
			a, err := testVerifier().verify(r, testTime)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			for _, step := range []int{1, 4096, 1 << 16} {
				checkRefused(t, a.Body(bytes.NewReader(tt.send)), step, len(data), tt.want)
			}
		})
	}
}

// TestChunkedLenient covers what real clients send that a strict reading would refuse.
func TestChunkedLenient(t *testing.T) {
	data := testData(9000)
	tests := []struct {
		name string
		c    chunkedCase
		edit func([]byte) []byte
	}{
		{"no empty line at the end", chunkedCase{mode: PayloadStreamingSigned, data: data, size: 8192}, func(b []byte) []byte { return b[:len(b)-2] }},
		{"trailer ends at EOF", chunkedCase{mode: PayloadStreamingSignedTrailer, trailer: "x-amz-checksum-crc32c", data: data, size: 8192}, func(b []byte) []byte { return b[:len(b)-2] }},
		{"trailer lines end in LF", chunkedCase{mode: PayloadStreamingSignedTrailer, trailer: "x-amz-checksum-crc32c", data: data, size: 8192}, func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-checksum-crc32c:"))
			return append(b[:i:i], bytes.ReplaceAll(b[i:], []byte("\r\n"), []byte("\n"))...)
		}},
		{"minio-go signed trailer", chunkedCase{mode: PayloadStreamingSignedTrailer, trailer: "x-amz-checksum-crc32c", data: data, size: 8192}, func(b []byte) []byte {
			return replace(b, "\r\nx-amz-trailer-signature:", "\n\r\nx-amz-trailer-signature:")
		}},
		{"minio-go unsigned trailer", chunkedCase{mode: PayloadStreamingUnsignedTrailer, trailer: "x-amz-checksum-crc32c", data: data, size: 8192}, func(b []byte) []byte {
			return append(bytes.Clone(b[:len(b)-4]), "\n\r\n\r\n"...)
		}},
		{"unsigned chunk extension", chunkedCase{mode: PayloadStreamingUnsignedTrailer, trailer: "x-amz-checksum-crc32", data: data, size: 8192}, func(b []byte) []byte { return replace(b, "2000\r\n", "2000;ext=1\r\n") }},
		{"uppercase hex size", chunkedCase{mode: PayloadStreamingUnsignedTrailer, trailer: "x-amz-checksum-crc32", data: data, size: 0xabc}, func(b []byte) []byte { return replace(b, "abc\r\n", "ABC\r\n") }},
		{"one chunk of the whole body", chunkedCase{mode: PayloadStreamingUnsignedTrailer, trailer: "x-amz-checksum-crc32", data: data, size: len(data)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := tt.c.request(t)
			if tt.edit != nil {
				body = tt.edit(body)
			}
			a, err := testVerifier().verify(r, testTime)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(a.Body(bytes.NewReader(body)), 777)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes, %v; want %d", len(got), err, len(data))
			}
		})
	}
}
