package main

import (
	"context"
	"log/slog"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/config"
	"github.com/assetgateway/assetgateway/internal/s3api"
)

// The S3-compatible listener (s3api.listen): a server of its own, with the main listener's
// edges (connection caps, slow-client limits, TLS), serving package s3api.

// s3Credentials is what the control API hands out with "s3": true; nil while the listener
// is off.
func s3Credentials(cfg *config.Config) *api.S3 {
	if !cfg.S3API.Enabled() {
		return nil
	}
	return &api.S3{Credentials: s3api.NewKeys(cfg.S3API.Secret), Endpoint: cfg.S3API.Host, Region: cfg.S3API.Region}
}

// s3Server is the listener's server, or nil while it is off; its methods accept nil.
type s3Server struct {
	*server
	done chan struct{} // closed once serve returned, err set
	err  error
}

// newS3Server builds the listener when s3api.listen is set.
func newS3Server(cfg *config.Config, o s3api.Options, log *slog.Logger) (*s3Server, error) {
	if !cfg.S3API.Enabled() {
		return nil, nil
	}
	o.Keys, o.Region, o.Endpoint = s3api.NewKeys(cfg.S3API.Secret), cfg.S3API.Region, cfg.S3API.Host
	o.Logger = log.With("component", "s3api")
	srv, err := newServerOn(cfg, cfg.S3API.Listen, false, s3api.New(o), log)
	if err != nil {
		return nil, err
	}
	return &s3Server{server: srv, done: make(chan struct{})}, nil
}

// start serves in a goroutine of its own, which shutdown waits for.
func (s *s3Server) start(log *slog.Logger) {
	if s == nil {
		return
	}
	log.Info("s3api_listening", "addr", s.ln.Addr().String())
	go func() {
		defer close(s.done)
		s.err = s.serve()
	}()
}

// Done is closed when the listener stopped serving (Err says why); never while it is off.
func (s *s3Server) Done() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.done
}

// Err is why serving ended, once Done is closed.
func (s *s3Server) Err() error { return s.err }

// shutdown stops the listener as the main one stops: in-flight requests get until ctx ends.
func (s *s3Server) shutdown(ctx context.Context, log *slog.Logger) {
	if s == nil {
		return
	}
	if err := s.Shutdown(ctx); err != nil {
		log.Warn("s3api_shutdown_incomplete", "error", err)
		s.Close()
	}
	<-s.done
}
