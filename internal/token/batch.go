package token

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Item is one token of a batch.
type Item struct {
	Token  string
	Record Record
}

// CreateMany implements Store: one pipeline of the create script, so a batch of up to a
// thousand tokens costs one round trip (one per node on a Redis Cluster).
func (s *RedisStore) CreateMany(ctx context.Context, items []Item) ([]error, error) {
	results := make([]error, len(items))
	if s.waitReplicas > 0 {
		// Every mint must wait for its replicas (and be undone if they do not answer):
		// one at a time, as Create does.
		for i, it := range items {
			if err := s.Create(ctx, it.Token, it.Record); errors.Is(err, ErrExists) {
				results[i] = err
			} else if err != nil {
				return nil, err
			}
		}
		return results, nil
	}
	pending := make([]int, len(items))
	for i := range items {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0 && attempt < 2; attempt++ {
		pipe := s.c.Pipeline()
		cmds := make(map[int]interface{ Int() (int, error) }, len(pending))
		for _, i := range pending {
			it := items[i]
			deadline := time.Unix(it.Record.ExpireAt, 0).Add(s.retention).UnixMilli()
			args := appendFields([]any{deadline}, it.Record, newGeneration())
			cmds[i] = createScript.EvalSha(ctx, pipe, []string{s.recordKey(ID(it.Token))}, args...)
		}
		_, _ = pipe.Exec(ctx) // errors are read per command below
		var again []int
		for _, i := range pending {
			ok, err := cmds[i].Int()
			switch {
			case err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") && attempt == 0:
				again = append(again, i) // the script is not loaded yet (or Redis restarted)
			case err != nil:
				return nil, s.fail("create many", err)
			case ok == 0:
				results[i] = ErrExists
			}
		}
		if len(again) > 0 {
			if err := createScript.Load(ctx, s.c).Err(); err != nil {
				return nil, s.fail("create many", err)
			}
		}
		pending = again
	}
	return results, nil
}

// CreateMany implements Store.
func (s *MemoryStore) CreateMany(ctx context.Context, items []Item) ([]error, error) {
	results := make([]error, len(items))
	for i, it := range items {
		if err := s.Create(ctx, it.Token, it.Record); err != nil {
			results[i] = err
		}
	}
	return results, nil
}
