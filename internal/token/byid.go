package token

import "context"

// Get and Access find a record by its token: they are GetID and AccessID of ID(token), which
// the S3 listener calls with the ID its credentials carry.

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, token string) (Record, error) {
	return s.GetID(ctx, ID(token))
}

// Access implements Store.
func (s *RedisStore) Access(ctx context.Context, token string, req Request) (*Grant, error) {
	return s.AccessID(ctx, ID(token), req)
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, token string) (Record, error) {
	return s.GetID(ctx, ID(token))
}

// Access implements Store.
func (s *MemoryStore) Access(ctx context.Context, token string, req Request) (*Grant, error) {
	return s.AccessID(ctx, ID(token), req)
}
