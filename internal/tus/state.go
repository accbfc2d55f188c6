package tus

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/upload"
)

// state is what a tus upload keeps in token.Upload.State.
type state struct {
	// ContentType is the object's media type, "" until known: from the metadata at creation,
	// else sniffed from the first bytes.
	ContentType string `json:"ct,omitempty"`
	// Digest is the marshalled running SHA-256 (crypto/sha256's digest state) of the bytes
	// stored so far, when the token expects the object to have a given SHA-256.
	Digest []byte `json:"sha,omitempty"`
	// Done is true once the object exists: the upload only answers HEAD until it expires.
	Done bool `json:"done,omitempty"`
}

func decodeState(b []byte) (state, error) {
	var s state
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return state{}, fmt.Errorf("corrupt tus state: %w", err)
	}
	return s, nil
}

func (s state) encode() []byte {
	b, _ := json.Marshal(s) // strings, bytes and a bool always marshal
	return b
}

// digest returns the running SHA-256 the state holds; nil when it keeps none.
func (s state) digest() (hash.Hash, error) {
	if s.Digest == nil {
		return nil, nil
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.Digest); err != nil {
		return nil, fmt.Errorf("corrupt tus digest: %w", err)
	}
	return h, nil
}

// newDigest returns the marshalled state of an empty SHA-256.
func newDigest() []byte { return marshalDigest(sha256.New()) }

func marshalDigest(h hash.Hash) []byte {
	b, _ := h.(encoding.BinaryMarshaler).MarshalBinary() // crypto/sha256's never fails
	return b
}

// scratchPrefix is where the temporary objects of upload id live: the bytes that do not fill
// a part yet, in one object named after the offset they end at.
func scratchPrefix(id string) string { return upload.ScratchPrefix + "tus-" + id + "-" }

func scratchKey(id string, offset int64) string {
	return scratchPrefix(id) + strconv.FormatInt(offset, 10)
}

// deleteScratch deletes the temporary objects of upload id, but keep ("" deletes all).
func deleteScratch(ctx context.Context, be objstore.Backend, id, keep string) error {
	prefix := scratchPrefix(id)
	for after := ""; ; {
		page, err := be.List(ctx, prefix, after, 1000)
		if err != nil {
			return fmt.Errorf("list temporary objects: %w", err)
		}
		for _, e := range page.Entries {
			if e.Key == keep {
				continue
			}
			if err := be.Delete(ctx, e.Key); err != nil {
				return fmt.Errorf("delete temporary object: %w", err)
			}
		}
		if !page.Truncated || len(page.Entries) == 0 {
			return nil
		}
		after = strings.TrimPrefix(page.Entries[len(page.Entries)-1].Key, prefix)
	}
}
