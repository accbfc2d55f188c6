package config

import (
	"strings"
	"testing"
)

func TestValidateS3API(t *testing.T) {
	on := func(c *Config) {
		c.S3API = S3API{Listen: "127.0.0.1:9000", Host: "http://127.0.0.1:9000", Region: "us-east-1",
			Secret: strings.Repeat("s", MinS3SecretLength)}
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // the one expected problem; "" means valid
	}{
		{"off by default", func(c *Config) {}, ""},
		{"off ignores the rest", func(c *Config) { c.S3API.Region = "" }, ""},
		{"on", on, ""},
		{"listen without port", func(c *Config) { on(c); c.S3API.Listen = "localhost" }, `s3api.listen: must be host:port, e.g. "127.0.0.1:9000"`},
		{"listen same as server", func(c *Config) { on(c); c.S3API.Listen = c.Server.Listen },
			"s3api.listen: must differ from server.listen: the S3 listener needs an address of its own"},
		{"host missing", func(c *Config) { on(c); c.S3API.Host = "" },
			`s3api.host: is required with s3api.listen: the listener's public base URL, e.g. "https://s3.gateway.example.com"`},
		{"host with a path", func(c *Config) { on(c); c.S3API.Host = "https://gw.example.com/s3" },
			"s3api.host: must not contain a path: give the service's base URL only"},
		{"region empty", func(c *Config) { on(c); c.S3API.Region = "" }, `s3api.region: must be a region name such as "us-east-1"`},
		{"region with a slash", func(c *Config) { on(c); c.S3API.Region = "us/east" }, `s3api.region: must be a region name such as "us-east-1"`},
		{"secret short", func(c *Config) { on(c); c.S3API.Secret = "short" },
			"s3api.secret: must be at least 32 characters (generate one: openssl rand -base64 32)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
}

// TestS3APISecretFromEnv: the secret comes from the environment, and a problem with it never
// repeats it.
func TestS3APISecretFromEnv(t *testing.T) {
	snippet := "s3api:\n  listen: 127.0.0.1:9000\n  host: http://127.0.0.1:9000\n  secret: ${S3_SECRET}\n"
	secret := strings.Repeat("k", 40)
	cfg, err := Parse(validYAML(snippet), mapEnv(map[string]string{"S3_SECRET": secret}), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.S3API.Secret != secret || cfg.S3API.Region != "us-east-1" {
		t.Errorf("s3api: got %+v, want the secret from the environment and region us-east-1", cfg.S3API)
	}
	_, err = Parse(validYAML(snippet), mapEnv(map[string]string{"S3_SECRET": "tooshort-secret"}), "")
	if err == nil || strings.Contains(err.Error(), "tooshort-secret") {
		t.Fatalf("a short secret: got %v, want a problem that does not repeat it", err)
	}
}
