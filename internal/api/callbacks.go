package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/token"
)

// DeadLetters is what the control API needs from the callback pool: the webhooks that never
// got through, and a way to send one again.
type DeadLetters interface {
	DeadLetters(ctx context.Context, limit int) ([]callback.DeadLetter, error)
	Replay(ctx context.Context, id string) error
}

// maxFailedListed caps GET /callbacks/failed.
const maxFailedListed = 1000

// failedView is one dead letter on the wire.
type failedView struct {
	ID         string         `json:"id"`
	Target     string         `json:"target"`
	Event      callback.Event `json:"event"`
	Attempts   int            `json:"attempts"`
	LastStatus int            `json:"last_status"`
	LastError  string         `json:"last_error"`
	FailedAt   int64          `json:"failed_at"`
}

// listFailed serves GET /callbacks/failed?limit=N (newest first, default 100).
func (a *API) listFailed(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxFailedListed {
			return badRequest("limit: must be a number from 1 to " + strconv.Itoa(maxFailedListed))
		}
		limit = n
	}
	dls, err := a.dead.DeadLetters(r.Context(), limit)
	if err != nil {
		return queueUnavailable(err)
	}
	out := make([]failedView, 0, len(dls))
	for _, d := range dls {
		out = append(out, failedView{ID: d.ID, Target: d.Target, Event: d.Event, Attempts: d.Attempts,
			LastStatus: d.LastStatus, LastError: d.LastError, FailedAt: d.FailedAt.Unix()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"failed": out})
	return nil
}

// retryFailed serves POST /callbacks/failed/{id}/retry: the event is queued again, with the
// same webhook-id and a fresh retry schedule.
func (a *API) retryFailed(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.dead.Replay(r.Context(), id); err != nil {
		if errors.Is(err, callback.ErrNotFound) {
			return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no failed callback with this id"}
		}
		return queueUnavailable(err)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": "queued", "queued_at": a.now().Unix()})
	return nil
}

// queueUnavailable reports a failure of the webhook queue's store — the same Redis as the
// token store — as 503 store_unavailable, like every other store failure.
func queueUnavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: webhook queue: %w", token.ErrUnavailable, err)
}
