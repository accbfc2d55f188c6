package sigv4

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"slices"
	"strings"
)

// crc64NVME is the CRC-64/NVME polynomial 0xad93d23594c93659, bit-reversed as hash/crc64
// wants it; TestChecksumVectors checks the catalogue's check value for "123456789".
const crc64NVME = 0x9a6c9329ac4bc9b5

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(crc64NVME)
)

// checksumAlgs are the x-amz-checksum-* headers (and trailers) we verify. Their values are
// the base64 of the big-endian digest.
var checksumAlgs = map[string]func() hash.Hash{
	"x-amz-checksum-crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"x-amz-checksum-crc32c":    func() hash.Hash { return crc32.New(castagnoli) },
	"x-amz-checksum-crc64nvme": func() hash.Hash { return crc64.New(nvme) },
	"x-amz-checksum-sha1":      sha1.New,
	"x-amz-checksum-sha256":    sha256.New,
	"x-amz-checksum-sha512":    sha512.New,
	"x-amz-checksum-md5":       md5.New,
}

// checksumParams are x-amz-checksum-* headers that carry no digest of the body.
var checksumParams = []string{"x-amz-checksum-algorithm", "x-amz-checksum-mode", "x-amz-checksum-type"}

const contentMD5 = "content-md5"

// digest is one digest the body must match: a checksum header, the checksum trailer, or
// Content-MD5. name is lowercase.
type digest struct {
	name string
	want []byte // nil for a trailer until the trailer arrives
}

func newHash(name string) hash.Hash {
	if name == contentMD5 {
		return md5.New()
	}
	return checksumAlgs[name]()
}

// decodeDigest decodes a base64 digest value and checks its length.
func decodeDigest(name, value string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil || len(b) != newHash(name).Size() {
		return nil, false
	}
	return b, true
}

// headerDigests returns the digests the request's headers announce for its body. A header we
// cannot decode is refused now, as S3 does, before any byte is read.
func headerDigests(h http.Header) ([]digest, *Error) {
	var ds []digest
	for k, vs := range h {
		name := strings.ToLower(k)
		if !strings.HasPrefix(name, "x-amz-checksum-") && name != contentMD5 || slices.Contains(checksumParams, name) {
			continue
		}
		if name != contentMD5 && checksumAlgs[name] == nil {
			// e.g. xxhash64: a digest we cannot check must not pass unchecked
			return nil, newError(CodeInvalidRequest, "The checksum "+name+" is not supported here.")
		}
		if len(vs) != 1 {
			return nil, newError(CodeInvalidRequest, "Expecting a single "+name+" header.")
		}
		want, ok := decodeDigest(name, vs[0])
		if !ok {
			if name == contentMD5 {
				return nil, newError(CodeInvalidDigest, "The Content-MD5 you specified was invalid.")
			}
			return nil, newError(CodeInvalidRequest, "Value for "+name+" header is invalid.")
		}
		ds = append(ds, digest{name: name, want: want})
	}
	return ds, nil
}

// digester feeds the body to every digest and compares at the end.
type digester struct {
	ds []digest
	hs []hash.Hash
}

func newDigester(ds []digest) *digester {
	d := &digester{ds: append([]digest(nil), ds...)}
	for _, x := range ds {
		d.hs = append(d.hs, newHash(x.name))
	}
	return d
}

func (d *digester) write(p []byte) {
	for _, h := range d.hs {
		_, _ = h.Write(p)
	}
}

// setTrailer records the value the trailer brought for name.
func (d *digester) setTrailer(name string, want []byte) {
	for i := range d.ds {
		if d.ds[i].name == name && d.ds[i].want == nil {
			d.ds[i].want = want
		}
	}
}

// check compares every digest; a missing trailer value is a malformed trailer.
func (d *digester) check() *Error {
	for i, x := range d.ds {
		if x.want == nil {
			return newError(CodeMalformedTrailer, "The request did not carry the trailer "+x.name+".")
		}
		if string(d.hs[i].Sum(nil)) == string(x.want) {
			continue
		}
		if x.name == contentMD5 {
			return newError(CodeBadDigest, "The Content-MD5 you specified did not match what was received.")
		}
		alg := strings.ToUpper(strings.TrimPrefix(x.name, "x-amz-checksum-"))
		return newError(CodeBadDigest, "The "+alg+" you specified did not match the calculated checksum.")
	}
	return nil
}
