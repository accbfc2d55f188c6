package token

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// MemoryStore's upload sessions: the same semantics as RedisStore's, under the store's lock,
// with the store's clock for every expiry (leases included).

// memUploads are the uploads of a MemoryStore; the store's mu guards them.
type memUploads struct {
	byToken map[string]map[string]*memUpload // tokenID → upload id →
	due     map[string]int64                 // dueMember → Unix ms from which it is due
}

type memUpload struct {
	u         Upload
	gen       string    // generation of the token that created it
	deadline  time.Time // gone from then on
	holder    string    // lock holder; "" when unlocked
	lockUntil time.Time
}

// clone returns a copy of u that shares nothing mutable with it.
func cloneUpload(u Upload) Upload {
	u.State = slices.Clone(u.State)
	u.Meta = maps.Clone(u.Meta)
	return u
}

// upload returns the live upload; the caller holds s.mu.
func (s *MemoryStore) upload(tokenID, id string) *memUpload {
	m := s.uploads.byToken[tokenID][id]
	if m == nil {
		return nil
	}
	if !s.now().Before(m.deadline) {
		s.dropUpload(tokenID, id)
		return nil
	}
	return m
}

// dropUpload forgets an upload; the caller holds s.mu.
func (s *MemoryStore) dropUpload(tokenID, id string) {
	delete(s.uploads.byToken[tokenID], id)
	if len(s.uploads.byToken[tokenID]) == 0 {
		delete(s.uploads.byToken, tokenID)
	}
	delete(s.uploads.due, dueMember(tokenID, id))
}

// sweepUploads drops uploads past their deadline; the caller holds s.mu.
func (s *MemoryStore) sweepUploads(now time.Time) {
	for tokenID, ups := range s.uploads.byToken {
		for id, m := range ups {
			if !now.Before(m.deadline) {
				s.dropUpload(tokenID, id)
			}
		}
	}
}

// alive reports whether the upload's token generation still exists; the caller holds s.mu.
func (s *MemoryStore) alive(tokenID string, m *memUpload) bool {
	r := s.lookup(tokenID)
	return r != nil && r.gen == m.gen
}

// CreateUpload implements Uploads.
func (s *MemoryStore) CreateUpload(ctx context.Context, g *Grant, u Upload) (Upload, error) {
	if u.ID == "" {
		u.ID = NewUploadID()
	}
	u.Version = 1
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.lookup(g.id); r == nil || r.gen != g.gen {
		return Upload{}, ErrNotFound
	}
	if s.upload(g.id, u.ID) != nil {
		return Upload{}, ErrExists
	}
	if s.uploads.byToken[g.id] == nil {
		s.uploads.byToken[g.id] = map[string]*memUpload{}
	}
	deadline := time.UnixMilli(uploadDeadline(g.Record.ExpireAt, s.retention, u.ExpiresAt))
	s.uploads.byToken[g.id][u.ID] = &memUpload{u: cloneUpload(u), gen: g.gen, deadline: deadline}
	s.uploads.due[dueMember(g.id, u.ID)] = u.ExpiresAt
	return u, nil
}

// Upload implements Uploads.
func (s *MemoryStore) Upload(ctx context.Context, tokenID, id string) (Upload, *Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.lookup(tokenID)
	if r == nil {
		return Upload{}, nil, ErrNotFound
	}
	m := s.upload(tokenID, id)
	if m == nil || m.gen != r.gen {
		return Upload{}, nil, ErrUploadNotFound
	}
	return cloneUpload(m.u), &Grant{id: tokenID, gen: r.gen, Record: r.rec}, nil
}

// UpdateUpload implements Uploads.
func (s *MemoryStore) UpdateUpload(ctx context.Context, tokenID string, u Upload) (Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.lookup(tokenID)
	if r == nil {
		return Upload{}, ErrNotFound
	}
	m := s.upload(tokenID, u.ID)
	switch {
	case m == nil || m.gen != r.gen:
		return Upload{}, ErrUploadNotFound
	case m.u.Version != u.Version:
		return Upload{}, ErrConflict
	}
	next := cloneUpload(u)
	next.Kind, next.Bucket, next.Key = m.u.Kind, m.u.Bucket, m.u.Key
	next.Version++
	if keep := time.UnixMilli(next.ExpiresAt).Add(uploadGrace); m.deadline.Before(keep) {
		m.deadline = keep
	}
	if next.ExpiresAt != m.u.ExpiresAt {
		s.uploads.due[dueMember(tokenID, u.ID)] = next.ExpiresAt
	}
	m.u = next
	u.Version = next.Version
	return u, nil
}

// DeleteUpload implements Uploads.
func (s *MemoryStore) DeleteUpload(ctx context.Context, tokenID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.upload(tokenID, id)
	if m == nil {
		return ErrUploadNotFound
	}
	if r := s.lookup(tokenID); m.u.Hit && r != nil && r.gen == m.gen && r.rec.UsedHits > 0 {
		r.rec.UsedHits--
	}
	s.dropUpload(tokenID, id)
	return nil
}

// LockUpload implements Uploads.
func (s *MemoryStore) LockUpload(ctx context.Context, tokenID, id, holder string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.upload(tokenID, id)
	if m == nil {
		return false, ErrUploadNotFound
	}
	now := s.now()
	if m.holder != "" && m.holder != holder && now.Before(m.lockUntil) {
		return false, nil
	}
	m.holder, m.lockUntil = holder, now.Add(ttl)
	return true, nil
}

// UnlockUpload implements Uploads.
func (s *MemoryStore) UnlockUpload(ctx context.Context, tokenID, id, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.upload(tokenID, id); m != nil && m.holder == holder {
		m.holder = ""
	}
	return nil
}

// ExpiredUploads implements Uploads.
func (s *MemoryStore) ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]Due, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nowMS := now.UnixMilli()
	var members []string
	for m, at := range s.uploads.due {
		if at <= nowMS {
			members = append(members, m)
		}
	}
	slices.SortFunc(members, func(a, b string) int { return cmp.Compare(s.uploads.due[a], s.uploads.due[b]) })
	holder := "janitor:" + NewUploadID()
	var out []Due
	for _, member := range members {
		if len(out) == limit {
			break
		}
		tokenID, id, _ := strings.Cut(member, "/")
		m := s.upload(tokenID, id)
		switch {
		case m == nil:
			delete(s.uploads.due, member)
			continue
		case m.holder != "" && s.now().Before(m.lockUntil):
			s.uploads.due[member] = now.Add(uploadBusyRetry).UnixMilli() // a writer has it
			continue
		case s.alive(tokenID, m) && m.u.ExpiresAt > nowMS:
			s.uploads.due[member] = m.u.ExpiresAt // not due: the index was behind
			continue
		}
		s.uploads.due[member] = now.Add(UploadClaim).UnixMilli()
		m.holder, m.lockUntil = holder, s.now().Add(UploadClaim)
		out = append(out, Due{TokenID: tokenID, Upload: cloneUpload(m.u), Holder: holder})
	}
	return out, nil
}

// uploadsDue makes every upload of a deleted token due at once; the caller holds s.mu.
func (s *MemoryStore) uploadsDue(tokenID string) {
	for id := range s.uploads.byToken[tokenID] {
		s.uploads.due[dueMember(tokenID, id)] = 0
	}
}
