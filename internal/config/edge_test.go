package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestParseEdgeKeys(t *testing.T) {
	base := filepath.FromSlash("/srv/gateway/conf")
	cfg, err := Parse(validYAML(`server:
  host: "https://gw.example.com"
  body_idle_timeout: 10s
  body_min_rate: 8KiB
  write_idle_timeout: 2m
  max_conns_per_client: 64
  max_conns: 0
  tls:
    cert_file: certs/gw.pem
    key_file: /etc/gw/key.pem
`), mapEnv(nil), base)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s := cfg.Server
	tests := []struct {
		name      string
		got, want any
	}{
		{"body_idle_timeout", s.BodyIdleTimeout, 10 * time.Second},
		{"body_min_rate", s.BodyMinRate, ByteSize(8 << 10)},
		{"write_idle_timeout", s.WriteIdleTimeout, 2 * time.Minute},
		{"max_conns_per_client", s.MaxConnsPerClient, 64},
		{"max_conns", s.MaxConns, 0},
		{"relative tls.cert_file", s.TLS.CertFile, filepath.Join(base, "certs", "gw.pem")},
		{"absolute tls.key_file", s.TLS.KeyFile, "/etc/gw/key.pem"},
		{"tls enabled", s.TLS.Enabled(), true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestParseEdgeMistakes(t *testing.T) {
	_, err := Parse(validYAML(`server:
  host: "https://gw.example.com"
  body_idle_timeout: 30
  body_min_rate: fast
  max_conns: -5
  tls:
    cert_file: ~/gw.pem
`), mapEnv(nil), "/base")
	assertProblems(t, err,
		`server.body_idle_timeout: a bare number is not a duration: use a unit, e.g. "5s" (line 3)`,
		`server.body_min_rate: must be a size in bytes: a whole number, optionally followed by B, KB, MB, GB, TB (powers of 10) or KiB, MiB, GiB, TiB (powers of 2), e.g. 65536 or "64KiB" (line 4)`,
		`server.max_conns: must not be negative (0: no cap) (line 5)`,
		`server.tls.cert_file: "~" is not expanded: write ${HOME} or an absolute path (line 7)`,
		`server.tls.key_file: is required with server.tls.cert_file`,
	)
}
