package edge

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certCheckEvery is how often, at most, the certificate files are looked at again.
const certCheckEvery = time.Second

// Certificate serves a certificate and key pair from PEM files and reloads it when the files
// change (their modification time or size), so that a renewed certificate is used by new
// handshakes without a restart and without dropping a connection. The files are looked at
// during a handshake, at most once a second; nothing runs in the background. A new pair that
// does not load (a key that does not match, a file half written) is logged and the previous
// pair is kept; it is tried again when the files change again.
type Certificate struct {
	certFile, keyFile string
	log               *slog.Logger

	cur     atomic.Pointer[tls.Certificate]
	checked atomic.Int64 // unix nanoseconds of the last look at the files

	mu    sync.Mutex // held while looking at the files
	stamp certStamp  // of the files as last tried, loaded or not
}

// certStamp identifies a version of the two files.
type certStamp struct {
	certMod, keyMod   int64 // unix nanoseconds
	certSize, keySize int64
}

// LoadCertificate loads the pair; an error here means the server cannot start.
func LoadCertificate(certFile, keyFile string, log *slog.Logger) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile, log: log}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	stamp, err := c.look()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	c.stamp = stamp
	c.cur.Store(&cert)
	c.checked.Store(time.Now().UnixNano())
	return c, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now().UnixNano()
	if now-c.checked.Load() >= int64(certCheckEvery) && c.mu.TryLock() {
		c.checked.Store(now)
		c.reload()
		c.mu.Unlock()
	}
	return c.cur.Load(), nil
}

// reload loads the pair again if the files changed since they were last tried. c.mu is held.
func (c *Certificate) reload() {
	stamp, err := c.look()
	if err != nil {
		if stamp != c.stamp {
			c.stamp = stamp
			c.log.Warn("tls_certificate_reload_failed", "error", err, "detail", "keeping the certificate in use")
		}
		return
	}
	if stamp == c.stamp {
		return
	}
	c.stamp = stamp
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.log.Warn("tls_certificate_reload_failed", "cert_file", c.certFile, "key_file", c.keyFile,
			"error", err, "detail", "keeping the certificate in use")
		return
	}
	c.cur.Store(&cert)
	attrs := []any{"cert_file", c.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	c.log.Info("tls_certificate_reloaded", attrs...)
}

// look stats both files. On an error the stamp is the zero value, so that a file that
// disappears and comes back is tried again.
func (c *Certificate) look() (certStamp, error) {
	cf, err := os.Stat(c.certFile)
	if err != nil {
		return certStamp{}, fmt.Errorf("tls certificate: %w", err)
	}
	kf, err := os.Stat(c.keyFile)
	if err != nil {
		return certStamp{}, fmt.Errorf("tls key: %w", err)
	}
	return certStamp{certMod: cf.ModTime().UnixNano(), keyMod: kf.ModTime().UnixNano(), certSize: cf.Size(), keySize: kf.Size()}, nil
}
