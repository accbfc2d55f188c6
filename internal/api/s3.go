package api

import (
	"github.com/assetgateway/assetgateway/internal/token"
)

// S3 hands out S3 credentials with the tokens minted "s3": true, for the S3-compatible
// listener (package s3api). Nil in Options: the listener is off and "s3": true is refused.
type S3 struct {
	// Credentials issues the credentials of the token filed under tokenID: the nonce its
	// record keeps (token.Record.S3), the access key ID and the secret access key, derived,
	// never stored.
	Credentials interface {
		Issue(tokenID string) (nonce, accessKeyID, secretAccessKey string)
	}
	// Endpoint is the listener's public base URL (s3api.host); Region the region clients
	// sign for (s3api.region).
	Endpoint, Region string
}

// s3View is the "s3" member of a mint's answer: everything an S3 client needs.
type s3View struct {
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	Bucket          string `json:"bucket"`
	Key             string `json:"key,omitempty"`
	Prefix          string `json:"prefix,omitempty"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// checkS3: S3 credentials need the listener.
func (m *minting) checkS3() {
	if m.req.S3 && m.a.s3 == nil {
		m.bad("s3", "the S3 listener is off (s3api.listen)")
	}
}

// issueS3 gives the record of tok S3 credentials when the request asked for them, and
// returns what to answer (nil when it did not ask).
func (a *API) issueS3(asked bool, tok string, rec *token.Record) *s3View {
	if !asked || a.s3 == nil {
		return nil
	}
	nonce, akid, secret := a.s3.Credentials.Issue(token.ID(tok))
	rec.S3 = nonce
	return &s3View{Endpoint: a.s3.Endpoint, Region: a.s3.Region, Bucket: rec.Bucket, Key: rec.Key, Prefix: rec.Prefix,
		AccessKeyID: akid, SecretAccessKey: secret}
}
