package upload

import (
	"context"
	"time"

	"github.com/assetgateway/assetgateway/internal/token"
)

// Sessions is the token store's upload-session calls, which every owner makes: a session is
// created with the hit it holds, read back with its token's grant, updated, locked by one
// request at a time and deleted (which hands the hit back if the session still held it).
type Sessions interface {
	CreateUpload(ctx context.Context, g *token.Grant, u token.Upload) (token.Upload, error)
	Upload(ctx context.Context, tokenID, id string) (token.Upload, *token.Grant, error)
	UpdateUpload(ctx context.Context, tokenID string, u token.Upload) (token.Upload, error)
	DeleteUpload(ctx context.Context, tokenID, id string) error
	LockUpload(ctx context.Context, tokenID, id, holder string, ttl time.Duration) (bool, error)
	UnlockUpload(ctx context.Context, tokenID, id, holder string) error
}

// Tokens is what an owner that serves requests by token (tus, Uppy's endpoints) needs from
// the token store: the record, the access that takes the hit, its refund, the uploaded mark
// and the session calls.
type Tokens interface {
	Get(ctx context.Context, tok string) (token.Record, error)
	Access(ctx context.Context, tok string, req token.Request) (*token.Grant, error)
	Refund(ctx context.Context, g *token.Grant) error
	MarkUploaded(ctx context.Context, g *token.Grant) error
	Sessions
}

// Error is an owner's refusal with its place in the contract: an HTTP status, a stable code
// and a message safe to show the client. Err, the cause, goes to the log only. internal/api
// writes it in the contract's JSON shape (through HTTPError).
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// HTTPError gives the status, code and message of the answer.
func (e *Error) HTTPError() (status int, code, message string) { return e.Status, e.Code, e.Message }
