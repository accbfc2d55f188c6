package s3api

import (
	"context"
	"fmt"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/token"
)

// Owner ends the listener's multipart uploads for the upload janitor (upload.Owner, Kind
// "s3"): an upload abandoned past its token's expiry, or whose token was revoked. Cleanup
// aborts the store's upload; the janitor then deletes the session, which hands the hit back
// unless a completion had already spent it.
type Owner struct {
	// Buckets are the bucket aliases' backends.
	Buckets map[string]objstore.Backend
}

// Kind is the upload kind Owner ends.
const Kind = uploadKind

// Cleanup implements upload.Owner; aborting an upload already gone is no error.
func (o Owner) Cleanup(ctx context.Context, tokenID string, u token.Upload) error {
	if u.StoreID == "" {
		return nil
	}
	mp, ok := objstore.AsMultipart(o.Buckets[u.Bucket])
	if !ok {
		return fmt.Errorf("s3api: bucket alias %q has no multipart API", u.Bucket)
	}
	return mp.AbortMultipart(ctx, u.Key, u.StoreID)
}
