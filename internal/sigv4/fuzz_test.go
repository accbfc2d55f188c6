package sigv4

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32))
	f.Add("AWS4-HMAC-SHA256 Signature=" + strings.Repeat("0", 64) + ",SignedHeaders=host,Credential=A/20260101/r/s3/aws4_request")
	f.Fuzz(func(t *testing.T, h string) {
		got, err := parseAuthorization(h)
		if err != nil {
			if err.Status == 0 || err.Code == "" {
				t.Fatalf("error without a status or code: %+v", err)
			}
			return
		}
		c := got.cred
		switch {
		case len(got.signature) != 64 || !isLowerHex(got.signature):
			t.Fatalf("signature %q accepted", got.signature)
		case !slices.IsSorted(got.signedHeaders) || !slices.Contains(got.signedHeaders, "host"):
			t.Fatalf("signed headers %q accepted", got.signedHeaders)
		case c.accessKeyID == "" || len(c.date) != 8 || c.region == "" || c.service == "":
			t.Fatalf("credential %+v accepted", c)
		}
		again, err := parseAuthorization(algorithm + " Credential=" + c.accessKeyID + "/" + scope(c.date, c.region, c.service) +
			", SignedHeaders=" + strings.Join(got.signedHeaders, ";") + ", Signature=" + got.signature)
		if err != nil || again.cred != c || !slices.Equal(again.signedHeaders, got.signedHeaders) || again.signature != got.signature {
			t.Fatalf("rendered back: got %+v, %v; want %+v", again, err, got)
		}
	})
}

// fuzzBody is what every accepted fuzzed body must decode to: its SHA-256 is a checksum
// header the decoder checks, so nothing else can pass.
var fuzzBody = []byte("hello, fuzzer: a body of some length")

const fuzzSeed = "1111111111111111111111111111111111111111111111111111111111111111"

// fuzzAuth is an Auth as Verify would return it for an aws-chunked upload of fuzzBody; mode
// picks the payload mode, whether the decoded length is declared, and the read size.
func fuzzAuth(mode uint8) (*Auth, int) {
	modes := []PayloadMode{PayloadStreamingSigned, PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer}
	sum := sha256.Sum256(fuzzBody)
	a := &Auth{
		Payload:       modes[int(mode)%len(modes)],
		DecodedLength: int64(len(fuzzBody)),
		digests:       []digest{{name: "x-amz-checksum-sha256", want: sum[:]}},
		seed:          fuzzSeed,
		signer:        newSigner(deriveKey(testSecret, "20260101", testRegion, "s3"), "20260101T120000Z", scope("20260101", testRegion, "s3")),
	}
	if mode&4 != 0 {
		a.DecodedLength = -1
	}
	if a.Payload.trailer() {
		a.trailer = "x-amz-checksum-crc32c"
		a.digests = append(a.digests, digest{name: a.trailer})
	}
	return a, []int{1, 7, 4096}[int(mode>>3)%3]
}

// fuzzEncoder frames fuzzBody validly for fuzzAuth(mode).
func fuzzEncoder(mode uint8, size int) []byte {
	a, _ := fuzzAuth(mode)
	enc := newChunkEncoder(testSecret, "20260101T120000Z", testRegion, fuzzSeed)
	if !a.Payload.signedChunks() {
		enc.key = nil
	}
	enc.trailer = a.trailer
	body, _ := enc.encode(fuzzBody, size)
	return body
}

func FuzzChunkedReader(f *testing.F) {
	for mode := range uint8(24) {
		f.Add(fuzzEncoder(mode, 10), mode)
	}
	f.Add([]byte("0\r\nx-amz-checksum-crc32c:AAAAAA==\r\n\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		a, step := fuzzAuth(mode)
		got, err := readAll(a.Body(bytes.NewReader(body)), step)
		if a.DecodedLength >= 0 && int64(len(got)) > a.DecodedLength {
			t.Fatalf("released %d bytes, more than the declared %d", len(got), a.DecodedLength)
		}
		if err == nil {
			if !bytes.Equal(got, fuzzBody) {
				t.Fatalf("accepted a body that fails its checksum: %q", got)
			}
			return
		}
		if _, ok := err.(*Error); !ok {
			t.Fatalf("error %v (%T) is not an *Error", err, err)
		}
		if a.DecodedLength >= 0 && int64(len(got)) >= a.DecodedLength {
			t.Fatalf("released all %d bytes and then failed: %v", len(got), err)
		}
	})
}

// TestFuzzSeedsDecode keeps the generated seeds honest: each decodes.
func TestFuzzSeedsDecode(t *testing.T) {
	for mode := range uint8(24) {
		a, step := fuzzAuth(mode)
		got, err := readAll(a.Body(bytes.NewReader(fuzzEncoder(mode, 10))), step)
		if err != nil || !bytes.Equal(got, fuzzBody) {
			t.Fatalf("mode %d: got %q, %v", mode, got, err)
		}
	}
}
