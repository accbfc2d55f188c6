package main

import (
	"log/slog"
	"net/http"

	"github.com/assetgateway/assetgateway/internal/config"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/uppy"
)

// newUppy builds the handler of Uppy's S3 endpoints (direct uploads) over the aliases whose
// configuration turns direct_uploads on; it is also the janitor's owner of their sessions.
func newUppy(cfg *config.Config, backends map[string]objstore.Backend, store uppy.Store, notifier proxy.Notifier,
	clientIP func(*http.Request) string, log *slog.Logger) *uppy.Handler {
	aliases := map[string]uppy.Alias{}
	for alias, b := range backends {
		bc := cfg.Buckets[alias]
		if d, ok := objstore.AsDirectUploader(b); ok && bc.DirectUploads {
			aliases[alias] = uppy.Alias{Objects: d, PresignTTL: bc.PresignTTL}
		}
	}
	return uppy.New(uppy.Options{Store: store, Aliases: aliases, Retention: cfg.Token.Retention, Host: cfg.Server.Host,
		Notifier: notifier, ClientIP: clientIP, Logger: log.With("component", "uppy")})
}
