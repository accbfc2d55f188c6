package s3api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/assetgateway/assetgateway/internal/sigv4"
)

// Keys derives the S3 credentials of tokens from one server key (s3api.secret). Nothing is
// stored per credential: the access key ID carries the token's ID and the nonce its record
// keeps (token.Record.S3), and the secret is an HMAC of the server key over the access key
// ID. So every replica computes the same secret, and deleting the token revokes its
// credentials everywhere at once; minting the same token string again makes a new nonce, so
// old credentials never come back with it.
//
//	access key ID = "AG" + token.ID(token) + nonce        (2 + 22 + 8 characters)
//	secret        = hex(HMAC-SHA256(server key, "assetgateway-s3api-v1\n" + access key ID))[:40]
//
// The secret is hex (160 bits): a base64 one may start with "-", which command lines such as
// `mc alias set` read as a flag.
type Keys struct {
	server []byte
}

// NewKeys returns the Keys of a server key.
func NewKeys(serverKey string) *Keys { return &Keys{server: []byte(serverKey)} }

const (
	keyPrefix  = "AG"
	idLen      = 22 // token.ID: unpadded base64url of 16 bytes
	nonceLen   = 8  // 6 random bytes, unpadded base64url
	keyLen     = len(keyPrefix) + idLen + nonceLen
	secretLen  = 40
	secretSalt = "assetgateway-s3api-v1\n"
)

// NewNonce returns the nonce of a new minting of a token, for its record (token.Record.S3).
func (k *Keys) NewNonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Credentials are the access key ID and secret access key of the token filed under tokenID,
// minted with nonce.
func (k *Keys) Credentials(tokenID, nonce string) (accessKeyID, secretAccessKey string) {
	accessKeyID = keyPrefix + tokenID + nonce
	return accessKeyID, k.secret(accessKeyID)
}

// secret derives the secret access key of an access key ID.
func (k *Keys) secret(accessKeyID string) string {
	m := hmac.New(sha256.New, k.server)
	m.Write([]byte(secretSalt))
	m.Write([]byte(accessKeyID))
	return hex.EncodeToString(m.Sum(nil))[:secretLen]
}

// Secret is the sigv4.Verifier's Secret: it derives the secret of any access key ID that
// could be ours, without I/O. Whether its token still exists is the store's answer, asked
// only once the signature holds, so a request that is not signed with a derived secret never
// reaches the store.
func (k *Keys) Secret(_ context.Context, accessKeyID string) (string, error) {
	if _, _, ok := parseAccessKey(accessKeyID); !ok {
		return "", sigv4.ErrUnknownAccessKey
	}
	return k.secret(accessKeyID), nil
}

// parseAccessKey splits an access key ID into the token's ID and the credential nonce.
func parseAccessKey(accessKeyID string) (tokenID, nonce string, ok bool) {
	if len(accessKeyID) != keyLen || accessKeyID[:len(keyPrefix)] != keyPrefix || !base64URL(accessKeyID[len(keyPrefix):]) {
		return "", "", false
	}
	rest := accessKeyID[len(keyPrefix):]
	return rest[:idLen], rest[idLen:], true
}

// base64URL reports whether s is made of the unpadded base64url alphabet.
func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// logID is token.LogID of the token filed under tokenID — the first 12 hex digits of its
// SHA-256, of which the ID holds the first 16 bytes — so that the S3 listener's log lines
// name tokens as /object's do.
func logID(tokenID string) string {
	b, err := base64.RawURLEncoding.DecodeString(tokenID)
	if err != nil || len(b) < 6 {
		return ""
	}
	return hex.EncodeToString(b[:6])
}
