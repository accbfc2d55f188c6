package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

// The bare reverse-proxy path: net/http/httputil.ReverseProxy in front of the bench's MinIO,
// the least a Go program does to put a hop before the bucket, and so the yardstick for what
// the gateway's own work costs on top of proxying. It forwards every request unchanged,
// Host included, so that a URL presigned for the proxy's address verifies at MinIO (the same
// trick as nginx's `proxy_set_header Host $http_host`). It runs as its own process (this
// program started with -revproxy-listen), like the POST /token ceiling, so that it competes
// for the cores as the gateway does and its CPU time can be read from /proc.

// revproxyTransport is the proxy's client side: keep-alive with room for an idle connection
// per client connection of the bench (idle), no compression (bytes pass through as MinIO
// sends them), no environment proxy, HTTP/1.1 as MinIO speaks it on plain http.
func revproxyTransport(idle int) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		DisableCompression:    true,
		MaxIdleConns:          2 * idle,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}

// newRevProxy returns the handler: the request goes to target with its path, query and Host
// untouched. Rewrite (not Director) also drops any Forwarded/X-Forwarded-* the client sent;
// none are added, as nginx adds none in the bench's configuration.
func newRevProxy(target *url.URL, idle int, errLog *log.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // SetURL sets the target's host; the signature wants the client's
		},
		Transport: revproxyTransport(idle),
		ErrorLog:  errLog,
	}
}

// revproxyIdle is how many idle connections to MinIO the proxy keeps for a bench with conns
// client connections: one per client connection, and no fewer than net/http's default 100.
func revproxyIdle(conns int) int { return max(conns, 100) }

// serveRevProxy serves until the process is killed. conns is the bench's -conns.
func serveRevProxy(addr, target string, conns int) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("target %q: want an absolute URL (%v)", target, err)
	}
	errLog := log.New(os.Stderr, "revproxy: ", log.LstdFlags)
	srv := &http.Server{
		Addr:              addr,
		Handler:           newRevProxy(u, revproxyIdle(conns), errLog),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          errLog,
	}
	return srv.ListenAndServe()
}
