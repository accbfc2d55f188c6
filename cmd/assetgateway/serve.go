package main

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/config"
	"github.com/assetgateway/assetgateway/internal/edge"
)

// server is the public HTTP server and the listener it serves.
type server struct {
	*http.Server
	ln net.Listener
}

// newServer builds the public server around handler: connection caps on the listener,
// slow-client limits around the handler, and HTTPS with HTTP/2 when server.tls is set.
func newServer(cfg *config.Config, handler http.Handler, log *slog.Logger) (*server, error) {
	return newServerOn(cfg, cfg.Server.Listen, true, handler, log)
}

// newServerOn is newServer on another address, with the same edges; answerJSON says whether
// a plain-HTTP connection refused by a cap gets the contract's JSON 503 before it is closed
// (an S3 client would not read it: it gets the close alone, and retries).
func newServerOn(cfg *config.Config, addr string, answerJSON bool, handler http.Handler, log *slog.Logger) (*server, error) {
	s := cfg.Server
	ips, err := api.NewClientIP(s.TrustedProxies)
	if err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if s.TLS.Enabled() {
		cert, err := edge.LoadCertificate(s.TLS.CertFile, s.TLS.KeyFile, log.With("component", "tls"))
		if err != nil {
			return nil, err
		}
		tlsConfig = &tls.Config{
			GetCertificate: cert.GetCertificate,
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"h2", "http/1.1"},
		}
	}
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln := edge.Limit(raw, edge.ConnLimits{
		PerClient:  s.MaxConnsPerClient,
		Total:      s.MaxConns,
		Exempt:     ips.Trusted, // a reverse proxy carries many clients
		AnswerHTTP: answerJSON && tlsConfig == nil,
		Logger:     log,
	})
	srv := &http.Server{
		Handler: edge.Handler(handler, edge.Limits{
			BodyIdle:    s.BodyIdleTimeout,
			BodyMinRate: int64(s.BodyMinRate),
			WriteIdle:   s.WriteIdleTimeout,
		}),
		TLSConfig:         tlsConfig,
		ConnState:         ln.ConnState, // counts connections out of the caps
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return &server{Server: srv, ln: ln}, nil
}

// serve serves until the server is shut down.
func (s *server) serve() error {
	if s.TLSConfig != nil {
		return s.ServeTLS(s.ln, "", "") // the certificate comes from TLSConfig.GetCertificate
	}
	return s.Serve(s.ln)
}
