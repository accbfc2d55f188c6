package objstore

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// TestS3ListPartsPages: S3 lists at most 1000 parts a page; ListParts follows the markers and
// returns all of them, by number.
func TestS3ListPartsPages(t *testing.T) {
	testenv.Integration(t)
	b := newTestS3(t, testenv.MinIO(t, false), nil)
	ctx := context.Background()
	const key, parts = "pages", 1003
	id, err := b.CreateMultipart(ctx, key, MultipartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.AbortMultipart(ctx, key, id)
	var wg sync.WaitGroup
	errs := make(chan error, parts)
	next := make(chan int32)
	for range 8 {
		wg.Go(func() {
			for n := range next {
				if _, err := b.UploadPart(ctx, key, id, n, onlyReader([]byte{byte(n)}), 1); err != nil {
					errs <- fmt.Errorf("part %d: %w", n, err)
				}
			}
		})
	}
	for n := int32(parts); n >= 1; n-- {
		next <- n
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := b.ListParts(ctx, key, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != parts {
		t.Fatalf("ListParts: got %d parts, want %d", len(got), parts)
	}
	for i, p := range got {
		if p.Number != int32(i+1) || p.Size != 1 || p.ETag != md5Hex([]byte{byte(p.Number)}) {
			t.Fatalf("part %d: got %+v", i+1, p)
		}
	}
}
