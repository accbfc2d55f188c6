package sigv4

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkVerify is a header-signed GET as the SDK sends it: Verify only (no body).
func BenchmarkVerify(b *testing.B) {
	r := signing{method: "GET", key: "some/dir/object name.bin", query: "versionId=3",
		headers: map[string]string{"Range": "bytes=0-1023", "User-Agent": "aws-sdk-go-v2/1.0"}}.signed(b)
	v := testVerifier()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.verify(r, testTime); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunkedBody decodes 8 MiB in signed 64 KiB chunks, read 32 KiB at a time.
func BenchmarkChunkedBody(b *testing.B) {
	data := testData(8 << 20)
	for _, mode := range []PayloadMode{PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer} {
		b.Run(mode.String(), func(b *testing.B) {
			c := chunkedCase{mode: mode, trailer: "x-amz-checksum-crc32c", data: data, size: 64 << 10}
			r, body := c.request(b)
			a, err := testVerifier().verify(r, testTime)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{a.Body(bytes.NewReader(body))}, buf)
				if err != nil || n != int64(len(data)) {
					b.Fatal(n, err)
				}
			}
		})
	}
}
