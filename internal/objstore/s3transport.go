package objstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Transport settings shared by the SDK path and the fast path (one place, one set of values).
const (
	dialTimeout      = 5 * time.Second
	handshakeTimeout = 5 * time.Second
	tcpKeepAlive     = 30 * time.Second
	// idleConnTimeout closes a keep-alive connection to the store that has been idle this
	// long (stores close theirs after 5 s to a few minutes; S3 after about 20 s).
	idleConnTimeout = 90 * time.Second
	// maxIdleConns bounds the idle keep-alive connections kept per bucket alias: all its
	// traffic goes to one host.
	maxIdleConns = 256
	ioBufferSize = 64 << 10
)

// transport is how one S3 backend reaches its store: one dialer, one TLS configuration, one
// proxy decision and one response timeout, used by the SDK's http.Client and by the fast
// path alike.
//
// Requests go out over HTTP/1.1 (one TCP connection per transfer: concurrent large
// transfers share no flow-control window and cannot block each other, as streams
// multiplexed over one HTTP/2 connection can), redirects are not followed (an S3 redirect
// means a wrong region or endpoint: it surfaces as an error), bodies pass through byte for
// byte (no transparent gzip), and the proxy named by HTTPS_PROXY/HTTP_PROXY/NO_PROXY is used,
// as every AWS SDK and the aws CLI honour it (egress through a proxy is common in front of
// AWS; NO_PROXY exempts a local MinIO).
type transport struct {
	http            *http.Transport
	client          *http.Client
	dialer          *net.Dialer
	tls             *tls.Config
	responseTimeout time.Duration
	idleTimeout     time.Duration // idleConnTimeout
}

// newTransport builds the transport. It trusts the system roots plus the certificates in
// caFiles ("" entries are ignored).
func newTransport(responseTimeout time.Duration, caFiles ...string) (*transport, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, caFile := range caFiles {
		if caFile == "" {
			continue
		}
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("s3 CA file: %w", err)
		}
		if tlsConf.RootCAs == nil {
			if tlsConf.RootCAs, err = x509.SystemCertPool(); err != nil {
				tlsConf.RootCAs = x509.NewCertPool()
			}
		}
		if !tlsConf.RootCAs.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("s3 CA file %s: no PEM certificate found", caFile)
		}
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: tcpKeepAlive}
	ht := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   handshakeTimeout,
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConns,
		IdleConnTimeout:       idleConnTimeout,
		ResponseHeaderTimeout: responseTimeout,
		// Bodies above 2 MiB are sent with "Expect: 100-continue": an upload the store refuses
		// (bad credentials, missing bucket) is answered before its body is sent.
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       ioBufferSize,
		ReadBufferSize:        ioBufferSize,
	}
	return &transport{
		http: ht,
		client: &http.Client{
			Transport:     ht,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		dialer:          dialer,
		tls:             tlsConf,
		responseTimeout: responseTimeout,
		idleTimeout:     idleConnTimeout,
	}, nil
}

// direct reports whether requests to u go straight to the store (no proxy applies to it).
func (t *transport) direct(req *http.Request) bool {
	if t.http.Proxy == nil {
		return true
	}
	p, err := t.http.Proxy(req)
	return err == nil && p == nil
}

// closeIdle closes the SDK path's idle connections.
func (t *transport) closeIdle() { t.http.CloseIdleConnections() }
