package api

import (
	"github.com/assetgateway/assetgateway/internal/token"
)

// S3 hands out S3 credentials with the tokens minted "s3": true, for the S3-compatible
// listener (package s3api). Nil in Options: the listener is off and "s3": true is refused.
type S3 struct {
	// Credentials derive a token's credentials: NewNonce names one minting of it (kept in
	// its record, token.Record.S3), Credentials the access key ID and secret access key of
	// the token's ID and that nonce — derived, never stored.
	Credentials interface {
		NewNonce() string
		Credentials(tokenID, nonce string) (accessKeyID, secretAccessKey string)
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

// checkS3: S3 credentials need the listener; the record keeps the nonce of this minting.
func (m *minting) checkS3() {
	switch {
	case !m.req.S3:
	case m.a.s3 == nil:
		m.bad("s3", "the S3 listener is off (s3api.listen)")
	default:
		m.rec.S3 = m.a.s3.Credentials.NewNonce()
	}
}

// s3Of is the "s3" member of the answer for token tok minted with rec; nil without S3
// credentials.
func (a *API) s3Of(tok string, rec token.Record) *s3View {
	if rec.S3 == "" || a.s3 == nil {
		return nil
	}
	akid, secret := a.s3.Credentials.Credentials(token.ID(tok), rec.S3)
	return &s3View{Endpoint: a.s3.Endpoint, Region: a.s3.Region, Bucket: rec.Bucket, Key: rec.Key, Prefix: rec.Prefix,
		AccessKeyID: akid, SecretAccessKey: secret}
}
