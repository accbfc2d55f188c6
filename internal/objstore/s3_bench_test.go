package objstore

import (
	"bytes"
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkS3Get is a 1 KiB GET from MinIO through the backend: the gateway's side of a
// small download. cpu-µs/op is this process's CPU per GET (MinIO's is not counted).
func BenchmarkS3Get(b *testing.B) {
	srv := testenv.MinIO(b, false)
	for _, c := range []struct {
		name     string
		sdkReads bool
	}{
		{"fast", false},
		{"sdk", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			be := newTestS3(b, srv, nil)
			if c.sdkReads {
				be.fast = nil
			}
			ctx := context.Background()
			data := bytes.Repeat([]byte("x"), 1<<10)
			if _, err := be.Put(ctx, PutInput{Key: "k", Body: bytes.NewReader(data), Size: int64(len(data))}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				obj, err := be.Get(ctx, "k", GetOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, obj.Body); err != nil {
					b.Fatal(err)
				}
				obj.Body.Close()
			}
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
