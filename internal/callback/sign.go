package callback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// secretPrefix marks a Standard Webhooks secret: the key is the base64 text after it.
const secretPrefix = "whsec_"

// signer computes the Standard Webhooks v1 webhook-signature header value.
type signer struct {
	keys [][]byte
}

// newSigner decodes the secrets, current first. Empty secrets are skipped; no keys means
// deliveries are unsigned. Errors never contain the secret.
func newSigner(secrets []string) (signer, error) {
	var s signer
	for i, sec := range secrets {
		if sec == "" {
			continue
		}
		key, err := decodeSecret(sec)
		if err != nil {
			return signer{}, fmt.Errorf("callback: secret %d: %w", i+1, err)
		}
		s.keys = append(s.keys, key)
	}
	return s, nil
}

// decodeSecret returns the HMAC key: the base64-decoded bytes of a "whsec_" secret, the raw
// bytes of any other.
func decodeSecret(sec string) ([]byte, error) {
	b64, ok := strings.CutPrefix(sec, secretPrefix)
	if !ok {
		return []byte(sec), nil
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("a %q secret must be followed by base64", secretPrefix)
	}
	return key, nil
}

// sign returns "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" for every key, separated by
// spaces, or "" when there are no keys.
func (s signer) sign(id string, timestamp int64, body []byte) string {
	if len(s.keys) == 0 {
		return ""
	}
	var out strings.Builder
	ts := strconv.FormatInt(timestamp, 10)
	for i, key := range s.keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		if i > 0 {
			out.WriteByte(' ')
		}
		out.WriteString("v1,")
		out.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return out.String()
}
