package objstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

func TestBudgetOrderAndCancel(t *testing.T) {
	b := NewBudget(10)
	ctx := context.Background()
	if err := b.Acquire(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if err := b.Acquire(ctx, 11); err == nil {
		t.Fatal("a request larger than the whole budget was accepted")
	}
	got := make(chan int, 2)
	go func() { _ = b.Acquire(ctx, 5); got <- 5 }()
	waitWaiters(t, b, 1)
	go func() { _ = b.Acquire(ctx, 1); got <- 1 }() // fits now, but must queue behind the 5
	waitWaiters(t, b, 2)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Acquire(cctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Acquire: got %v", err)
	}
	select {
	case n := <-got:
		t.Fatalf("%d granted before anything was released", n)
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(8)
	<-got
	<-got
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used != 6 || b.waiters.Len() != 0 {
		t.Fatalf("after release: used %d, %d waiting; want 6 and none", b.used, b.waiters.Len())
	}
}

func waitWaiters(t *testing.T, b *Budget, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		k := b.waiters.Len()
		b.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUploadBudget: eight concurrent multipart uploads of unknown length through a budget of
// two part buffers all complete (no deadlock), and never hold more than the budget.
func TestUploadBudget(t *testing.T) {
	srv := testenv.MinIO(t, false)
	budget := NewBudget(2 * testPartSize)
	b := newTestS3(t, srv, func(o *S3Options) { o.UploadBudget = budget; o.PartConcurrency = 2 })
	data := testData(testBigSize, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.Put(ctx, PutInput{Key: fmt.Sprintf("budget/%d", i), Body: onlyReader(data), Size: -1})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
	}
	if peak := b.parts.peak.Load(); peak > 2 {
		t.Fatalf("peak part buffers %d, want at most the budget's 2", peak)
	}
	if got := getBytes(t, b, "budget/7"); len(got) != len(data) || md5Hex(got) != md5Hex(data) {
		t.Fatal("an upload through the budget stored different bytes")
	}
}
