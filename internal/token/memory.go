package token

import (
	"context"
	"sync"
	"time"
)

// MemoryOptions configures a MemoryStore.
type MemoryOptions struct {
	// Retention is how long a record stays readable after its expire_at.
	Retention time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SweepEvery is how often records past their retention are removed; zero means one minute.
	SweepEvery time.Duration
}

// MemoryStore is the embedded store: one process, in memory, gone on restart. It has the same
// semantics as RedisStore (the same contract suite runs against both) but cannot be shared by
// replicas.
type MemoryStore struct {
	retention time.Duration
	now       func() time.Time

	mu      sync.Mutex
	records map[string]*memRecord // by ID(token)
	uploads memUploads            // upload sessions (upload_memory.go)

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type memRecord struct {
	rec          Record
	gen          string
	deadline     time.Time // expire_at + retention: gone from then on
	headNotified time.Time // when a HEAD last fired the webhook
}

// NewMemoryStore returns an empty store and starts its sweeper; Close stops it.
func NewMemoryStore(o MemoryOptions) *MemoryStore {
	s := &MemoryStore{
		retention: o.Retention,
		now:       o.Now,
		records:   make(map[string]*memRecord),
		uploads:   memUploads{byToken: map[string]map[string]*memUpload{}, due: map[string]int64{}},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	every := o.SweepEvery
	if every <= 0 {
		every = time.Minute
	}
	go s.sweep(every)
	return s
}

func (s *MemoryStore) sweep(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			now := s.now()
			s.mu.Lock()
			for id, r := range s.records {
				if !now.Before(r.deadline) {
					delete(s.records, id)
				}
			}
			s.sweepUploads(now)
			s.mu.Unlock()
		}
	}
}

// lookup returns the live record for id; the caller holds s.mu.
func (s *MemoryStore) lookup(id string) *memRecord {
	r := s.records[id]
	if r == nil {
		return nil
	}
	if !s.now().Before(r.deadline) {
		delete(s.records, id)
		return nil
	}
	return r
}

// Create implements Store.
func (s *MemoryStore) Create(ctx context.Context, token string, rec Record) error {
	id := ID(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookup(id) != nil {
		return ErrExists
	}
	deadline := time.Unix(rec.ExpireAt, 0).Add(s.retention)
	if !s.now().Before(deadline) {
		return nil // already past retention: filed and gone at once, as with PEXPIREAT
	}
	s.records[id] = &memRecord{rec: rec, gen: newGeneration(), deadline: deadline}
	return nil
}

// GetID implements Store.
func (s *MemoryStore) GetID(ctx context.Context, id string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.lookup(id)
	if r == nil {
		return Record{}, ErrNotFound
	}
	return r.rec, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, token string) error {
	id := ID(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookup(id) == nil {
		return ErrNotFound
	}
	delete(s.records, id)
	s.uploadsDue(id)
	return nil
}

// AccessID implements Store, with the same checks in the same order as RedisStore's script.
func (s *MemoryStore) AccessID(ctx context.Context, id string, req Request) (*Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.lookup(id)
	if r == nil || req.S3 != "" && r.rec.S3 != req.S3 {
		return nil, ErrNotFound
	}
	now := s.now()
	if req.Admit != nil && (len(r.rec.IPs) > 0 || len(r.rec.ContentTypes) > 0 && req.Method == MethodPut) {
		rec := r.rec
		if err := req.Admit(&rec); err != nil {
			return nil, err
		}
	}
	switch {
	case expired(r.rec.ExpireAt, now):
		return nil, ErrExpired
	case !r.rec.Allows(req.Method):
		return nil, ErrMethodNotAllowed
	}
	g := &Grant{id: id, gen: r.gen, Record: r.rec}
	if req.Method == MethodHead {
		if r.rec.Callback != "" && now.Sub(r.headNotified) >= HeadNotifyInterval {
			r.headNotified = now
			g.Notify = true
		}
		return g, nil
	}
	if r.rec.MaxHits != Unlimited && r.rec.UsedHits >= r.rec.MaxHits {
		return nil, ErrHitsExceeded
	}
	if req.Method == MethodPut && r.rec.Size != Unlimited && req.ContentLength > r.rec.Size {
		return nil, ErrSizeExceeded
	}
	r.rec.UsedHits++
	g.Record.UsedHits = r.rec.UsedHits
	g.Consumed, g.Notify = true, true
	return g, nil
}

// Refund implements Store.
func (s *MemoryStore) Refund(ctx context.Context, g *Grant) error {
	if !g.Consumed || !g.refunded.CompareAndSwap(false, true) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.lookup(g.id); r != nil && r.gen == g.gen && r.rec.UsedHits > 0 {
		r.rec.UsedHits--
	}
	return nil
}

// MarkUploaded implements Store.
func (s *MemoryStore) MarkUploaded(ctx context.Context, g *Grant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.lookup(g.id); r != nil && r.gen == g.gen {
		r.rec.Uploaded = true
	}
	return nil
}

// Ping implements Store; the embedded store always answers.
func (s *MemoryStore) Ping(context.Context) error { return nil }

// Close implements Store; it stops the sweeper and waits for it.
func (s *MemoryStore) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}
