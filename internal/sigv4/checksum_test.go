package sigv4

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestChecksumVectors checks each algorithm on the CRC catalogue's "123456789" check values
// (CRC-64/NVME: 0xae8b14860a799888) and the value in AWS's trailer example.
func TestChecksumVectors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want uint64
	}{
		{"x-amz-checksum-crc32", []byte("123456789"), 0xcbf43926},
		{"x-amz-checksum-crc32c", []byte("123456789"), 0xe3069283},
		{"x-amz-checksum-crc64nvme", []byte("123456789"), 0xae8b14860a799888},
		{"x-amz-checksum-crc64nvme", make([]byte, 32), 0xcf3473434d4ecf3b},
	}
	for _, tt := range tests {
		h := checksumAlgs[tt.name]()
		h.Write(tt.data)
		sum := h.Sum(nil)
		var got uint64
		if len(sum) == 4 {
			got = uint64(binary.BigEndian.Uint32(sum))
		} else {
			got = binary.BigEndian.Uint64(sum)
		}
		if got != tt.want {
			t.Errorf("%s(%q): got %#x, want %#x", tt.name, tt.data, got, tt.want)
		}
	}
	h := checksumAlgs["x-amz-checksum-crc32c"]()
	h.Write(bytes.Repeat([]byte{'a'}, 65*1024))
	if want, _ := decodeDigest("x-amz-checksum-crc32c", "sOO8/Q=="); !bytes.Equal(h.Sum(nil), want) {
		t.Errorf("crc32c of the AWS example: got %x, want sOO8/Q==", h.Sum(nil))
	}
}
