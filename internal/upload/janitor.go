// Package upload is what the owners of upload sessions share, and ends the sessions that are
// over: expired, or whose token was revoked. An upload session (token.Upload) belongs to an
// owner — the tus handler, Uppy's multipart endpoints, the S3 listener — named by its Kind;
// owners make the store's session calls (Sessions) and refuse with Error. The Janitor hands
// each due upload to its owner's Cleanup, which removes what the upload holds in the object store
// (the store's multipart upload, temporary objects), then deletes the record, which hands
// back the token's hit if the upload still held it.
//
// Dependencies point one way: upload imports token; owners import upload.
package upload

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// ScratchPrefix is the reserved key prefix under which owners keep temporary objects in a
// bucket (tus: the bytes that do not fill a part yet). No token may name a key under it.
const ScratchPrefix = ".assetgateway-uploads/"

// Owner ends the uploads of one kind.
type Owner interface {
	// Cleanup removes what u holds outside its record — abort the store's multipart upload,
	// delete temporary objects — and must be safe to call again for the same upload (a
	// janitor may die half-way; the next one starts over). The janitor deletes the record
	// once it returns nil, and tries again later when it fails.
	Cleanup(ctx context.Context, tokenID string, u token.Upload) error
}

// Store is what the janitor needs from the token store.
type Store interface {
	ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]token.Due, error)
	DeleteUpload(ctx context.Context, tokenID, id string) error
	UnlockUpload(ctx context.Context, tokenID, id, holder string) error
}

// JanitorOptions configure a Janitor.
type JanitorOptions struct {
	Store Store
	// Owners are the owners of each Kind of upload.
	Owners map[string]Owner
	// Interval is the time between two sweeps. Required.
	Interval time.Duration
	// Batch is how many uploads one store call hands out; zero: 100.
	Batch  int
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Janitor ends due uploads, on every replica at once without two ending the same one (the
// store's claim sees to that).
type Janitor struct {
	store    Store
	owners   map[string]Owner
	interval time.Duration
	batch    int
	log      *slog.Logger
	now      func() time.Time
}

// NewJanitor returns a janitor; Run starts it.
func NewJanitor(o JanitorOptions) *Janitor {
	j := &Janitor{store: o.Store, owners: o.Owners, interval: o.Interval, batch: o.Batch, log: o.Logger, now: o.Now}
	if j.batch <= 0 {
		j.batch = 100
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	if j.now == nil {
		j.now = time.Now
	}
	return j
}

// Run sweeps every Interval, in the caller's goroutine, until ctx is done; then it returns
// ctx's error. Cancelling ctx is the stop; Run returning is the wait. A sweep in progress
// stops at its next store or owner call.
func (j *Janitor) Run(ctx context.Context) error {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if _, err := j.Sweep(ctx); err != nil && ctx.Err() == nil {
				j.log.Warn("upload_sweep_failed", "error", err)
			}
		}
	}
}

// Sweep ends every upload due now and returns how many it ended. Uploads it could not end
// (the owner failed, no owner for their kind) are tried again by a later sweep, once their
// claim has run out.
func (j *Janitor) Sweep(ctx context.Context) (int, error) {
	ended := 0
	for {
		due, err := j.store.ExpiredUploads(ctx, j.now(), j.batch)
		if err != nil {
			return ended, err
		}
		for _, d := range due {
			if j.end(ctx, d) {
				ended++
			}
		}
		if len(due) < j.batch || ctx.Err() != nil {
			return ended, ctx.Err()
		}
	}
}

// end hands one upload to its owner and deletes its record; false when it must wait.
func (j *Janitor) end(ctx context.Context, d token.Due) bool {
	u := d.Upload
	log := j.log.With("upload_id", u.ID, "kind", u.Kind)
	owner := j.owners[u.Kind]
	var err error
	if owner == nil {
		err = errors.New("no owner for this kind of upload")
	} else {
		err = owner.Cleanup(ctx, d.TokenID, u)
	}
	if err != nil {
		log.Warn("upload_cleanup_failed", "error", err)
		if uerr := j.store.UnlockUpload(ctx, d.TokenID, u.ID, d.Holder); uerr != nil {
			log.Warn("upload_unlock_failed", "error", uerr)
		}
		return false
	}
	if err := j.store.DeleteUpload(ctx, d.TokenID, u.ID); err != nil && !errors.Is(err, token.ErrUploadNotFound) {
		log.Warn("upload_delete_failed", "error", err)
		return false
	}
	log.Info("upload_ended", "offset", u.Offset, "length", u.Length)
	return true
}
