package callback

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// memQueue is the in-process queue: Pool.work is the bounded queue of new events, a heap holds
// scheduled retries, a slice the bounded dead letters. Nothing survives the process.
type memQueue struct {
	p        *Pool
	poll     time.Duration
	maxSched int
	maxDead  int
	wake     chan struct{} // a retry was scheduled earlier than the scheduler waits for

	closeMu sync.RWMutex // push holds it shared; stop exclusively
	closed  bool

	mu    sync.Mutex
	sched schedule
	dead  []job // oldest first
}

func newMemQueue(p *Pool, maxSched, maxDead int, poll time.Duration) *memQueue {
	return &memQueue{p: p, poll: poll, maxSched: maxSched, maxDead: maxDead, wake: make(chan struct{}, 1)}
}

func (m *memQueue) push(_ context.Context, j *job) error {
	d, err := newDelivery(*j)
	if err != nil {
		return err
	}
	m.closeMu.RLock()
	defer m.closeMu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	select {
	case m.p.work <- d:
		return nil
	default:
		return ErrQueueFull
	}
}

func (m *memQueue) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Go(func() { m.scheduler(ctx) })
}

// scheduler hands retries to the workers (through Pool.due) when they come due.
func (m *memQueue) scheduler(ctx context.Context) {
	timer := time.NewTimer(m.poll)
	defer timer.Stop()
	for {
		d, wait := m.popDue(m.p.clock.Now())
		if d != nil {
			select {
			case m.p.due <- d:
				continue
			case <-ctx.Done():
				m.mu.Lock()
				heap.Push(&m.sched, scheduled{due: m.p.clock.Now(), d: d})
				m.mu.Unlock()
				return
			}
		}
		timer.Reset(min(max(wait, time.Millisecond), m.poll))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-m.wake:
		}
	}
}

// popDue removes and returns the earliest retry if it is due, else how long until it is
// (or the poll interval when nothing is scheduled).
func (m *memQueue) popDue(now time.Time) (*delivery, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sched) == 0 {
		return nil, m.poll
	}
	if wait := m.sched[0].due.Sub(now); wait > 0 {
		return nil, wait
	}
	return heap.Pop(&m.sched).(scheduled).d, 0
}

func (m *memQueue) ack(context.Context, *delivery) error { return nil }

func (m *memQueue) retry(_ context.Context, d *delivery, due time.Time) error {
	m.mu.Lock()
	if len(m.sched) >= m.maxSched {
		m.mu.Unlock()
		return errScheduleFull
	}
	heap.Push(&m.sched, scheduled{due: due, d: d})
	m.mu.Unlock()
	m.signal()
	return nil
}

func (m *memQueue) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *memQueue) bury(_ context.Context, d *delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = append(m.dead, d.job)
	if over := len(m.dead) - m.maxDead; over > 0 {
		m.dead = append(m.dead[:0:0], m.dead[over:]...)
	}
	return nil
}

func (m *memQueue) release(*delivery) {}

func (m *memQueue) deadLetters(_ context.Context, limit int) ([]job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if limit <= 0 || limit > len(m.dead) {
		limit = len(m.dead)
	}
	out := make([]job, 0, limit)
	for i := len(m.dead) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, m.dead[i])
	}
	return out, nil
}

func (m *memQueue) replay(_ context.Context, id string) error {
	m.closeMu.RLock()
	defer m.closeMu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	m.mu.Lock()
	i := len(m.dead) - 1
	for ; i >= 0 && m.dead[i].ID != id; i-- {
	}
	if i < 0 {
		m.mu.Unlock()
		return ErrNotFound
	}
	j := m.dead[i]
	m.dead = append(m.dead[:i], m.dead[i+1:]...)
	j.Attempt, j.FailedAt = 0, 0
	d, err := newDelivery(j)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	heap.Push(&m.sched, scheduled{due: m.p.clock.Now(), d: d})
	m.mu.Unlock()
	m.signal()
	return nil
}

// stop refuses further events and counts what is left: it is lost with the process.
func (m *memQueue) stop(context.Context) {
	m.closeMu.Lock()
	m.closed = true
	m.closeMu.Unlock()
	lost := 0
	for len(m.p.work) > 0 { // every worker has exited and push is refused: nothing races
		<-m.p.work
		lost++
	}
	m.mu.Lock()
	lost += len(m.sched)
	m.sched = nil
	m.mu.Unlock()
	if lost > 0 {
		m.p.stats.abandoned.Add(int64(lost))
		m.p.log.Warn("callback in-memory events discarded at shutdown", "events", lost)
	}
}

func (m *memQueue) depth() (int64, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.p.work)), int64(len(m.sched))
}

// scheduled is a retry waiting for its due time.
type scheduled struct {
	due time.Time
	d   *delivery
}

// schedule is a min-heap of retries by due time.
type schedule []scheduled

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].due.Before(s[j].due) }
func (s schedule) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s *schedule) Push(x any)        { *s = append(*s, x.(scheduled)) }
func (s *schedule) Pop() any {
	old := *s
	x := old[len(old)-1]
	old[len(old)-1] = scheduled{}
	*s = old[:len(old)-1]
	return x
}
