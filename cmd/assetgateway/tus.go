package main

import (
	"log/slog"
	"net/http"

	"github.com/assetgateway/assetgateway/internal/config"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/tus"
)

// newTus builds the tus handler (resumable uploads): each S3 alias's uploads are cut in its
// part size, and their part buffers come out of the budget every upload path shares. It is
// also the janitor's owner of tus sessions.
func newTus(cfg *config.Config, store tus.Store, backends map[string]objstore.Backend, budget *objstore.UploadBudget,
	notifier proxy.Notifier, clientIP func(*http.Request) string, log *slog.Logger) *tus.Handler {
	partSize := map[string]int64{}
	for alias, b := range cfg.Buckets {
		if b.Driver == config.DriverS3 {
			partSize[alias] = int64(b.PartSize)
		}
	}
	return tus.New(tus.Options{Store: store, Buckets: backends, PartSize: partSize, Budget: budget, Host: cfg.Server.Host,
		UploadTTL: cfg.Tus.UploadTTL, Notifier: notifier, ClientIP: clientIP, Logger: log.With("component", "tus")})
}
