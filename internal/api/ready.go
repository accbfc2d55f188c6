package api

import (
	"context"
	"net/http"
	"sort"
	"sync"
)

// readyz serves GET /readyz: 200 only when every check passes (the token store answers,
// every bucket alias is reachable), each within the ready timeout. The body names each
// check's state; the cause of a failure goes to the log, not to the (unauthenticated) probe.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	names := make([]string, 0, len(a.ready))
	for name := range a.ready {
		names = append(names, name)
	}
	sort.Strings(names)
	results := make([]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), a.readyWait)
			defer cancel()
			err := a.ready[name](ctx)
			switch {
			case err == nil:
				results[i] = "ok"
			case ctx.Err() == context.DeadlineExceeded:
				results[i] = "timeout"
			default:
				results[i] = "unreachable"
			}
			if err != nil {
				a.log.Warn("readiness_check_failed", "check", name, "error", err)
			}
		}()
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	checks := make(map[string]string, len(names))
	for i, name := range names {
		checks[name] = results[i]
		if results[i] != "ok" {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
	return nil
}
