package config

import (
	"strings"
	"unicode/utf8"
)

// S3API configures the S3-compatible listener (package s3api): every token minted with
// "s3": true gets a pair of S3 credentials that work there, limited to what the token
// grants. Off unless Listen is set.
//
// It is an address of its own because S3 clients own the whole path: /{bucket}/{key} with
// any key, and a bare "/" for ListBuckets, so no path of the main listener (/object, /token,
// /healthz) could be set aside without colliding with some key.
type S3API struct {
	// Listen is the TCP address of the S3 listener, e.g. "127.0.0.1:9000". Empty: off, and
	// minting "s3": true is refused.
	Listen string `yaml:"listen"`
	// Host is the listener's public base URL, the `endpoint` handed out with the credentials
	// (e.g. "https://s3.gateway.example.com"). Required with Listen.
	Host string `yaml:"host"`
	// Region is the region clients sign for.
	Region string `yaml:"region"`
	// Secret is the server key every S3 secret access key is derived from (HMAC over the
	// access key ID); nothing per token is stored. At least MinS3SecretLength characters;
	// changing it invalidates every S3 credential handed out. Required with Listen.
	Secret string `yaml:"secret"`
}

// MinS3SecretLength is the shortest s3api.secret accepted.
const MinS3SecretLength = 32

// Enabled reports whether the S3 listener is on.
func (s S3API) Enabled() bool { return s.Listen != "" }

func (s S3API) check(ps *problems, mainListen string) {
	if !s.Enabled() {
		return
	}
	if msg := checkHostPort(s.Listen, 0); msg != "" {
		ps.add("s3api.listen", 0, `%s, e.g. "127.0.0.1:9000"`, msg)
	} else if s.Listen == mainListen {
		ps.add("s3api.listen", 0, "must differ from server.listen: the S3 listener needs an address of its own")
	}
	if s.Host == "" {
		ps.add("s3api.host", 0, `is required with s3api.listen: the listener's public base URL, e.g. "https://s3.gateway.example.com"`)
	} else if msg := checkBaseURL(s.Host, false); msg != "" {
		ps.add("s3api.host", 0, "%s", msg)
	}
	if s.Region == "" || strings.ContainsAny(s.Region, "/ \t") || !utf8.ValidString(s.Region) {
		ps.add("s3api.region", 0, `must be a region name such as "us-east-1"`)
	}
	if utf8.RuneCountInString(s.Secret) < MinS3SecretLength {
		ps.add("s3api.secret", 0, "must be at least %d characters (generate one: openssl rand -base64 32)", MinS3SecretLength)
	}
}
