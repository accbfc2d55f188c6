package callback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis key layout, all under one hash tag so every script is single-slot on a cluster.
const (
	keyStream   = "{cb}:stream"    // STREAM of jobs to deliver, field "job"
	keyRetry    = "{cb}:retry"     // ZSET job JSON → due time (Unix ms)
	keyDead     = "{cb}:dead"      // ZSET webhook-id → failed-at (Unix ms)
	keyDeadData = "{cb}:dead:data" // HASH webhook-id → job JSON
	group       = "delivery"       // the stream's consumer group; every replica's pool joins it
	fieldJob    = "job"
)

// readBatch bounds the entries one XREADGROUP or XAUTOCLAIM takes.
const readBatch = 64

// promoteBatch bounds the retries one script run moves back to the stream.
const promoteBatch = 500

// settleScript moves a taken entry out of the stream atomically, if this consumer's settlement
// is the first: XACK answers 1 only once per entry, so two consumers that both hold an entry
// (one claimed it from the other) never both move it.
//
// KEYS: stream, retry, dead, dead:data. ARGV: group, entry ID, action ("ack", "retry", "dead"),
// score, job JSON, webhook-id, dead-letter bound.
var settleScript = redis.NewScript(`
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
elseif ARGV[3] == 'dead' then
  redis.call('HSET', KEYS[4], ARGV[6], ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[6])
  local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[7])
  if over > 0 then
    local old = redis.call('ZRANGE', KEYS[3], 0, over - 1)
    for _, id in ipairs(old) do
      redis.call('HDEL', KEYS[4], id)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1)
  end
end
return 1
`)

// promoteScript moves due retries back to the stream atomically.
//
// KEYS: retry, stream. ARGV: now (Unix ms), batch size.
var promoteScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', m)
  redis.call('ZREM', KEYS[1], m)
end
return #due
`)

// replayScript moves a dead letter back to the stream, once.
//
// KEYS: dead, dead:data, stream. ARGV: webhook-id, job JSON.
var replayScript = redis.NewScript(`
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[3], '*', 'job', ARGV[2])
return 1
`)

// deadScript reads the newest dead letters.
//
// KEYS: dead, dead:data. ARGV: limit.
var deadScript = redis.NewScript(`
local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, id in ipairs(ids) do
  local rec = redis.call('HGET', KEYS[2], id)
  if rec then
    out[#out + 1] = rec
  end
end
return out
`)

// leaveScript removes this process's consumer from the group if it holds no pending entry
// (deleting a consumer drops its pending entries, so one that holds any is kept for
// XAUTOCLAIM).
//
// KEYS: stream. ARGV: group, consumer.
var leaveScript = redis.NewScript(`
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then
  return -1
end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`)

// redisQueue is the durable queue: a stream read through a consumer group, a ZSET of
// scheduled retries and a bounded dead-letter index, moved between atomically by scripts.
type redisQueue struct {
	p                                *Pool
	rdb                              redis.UniversalClient
	stream, retryKey, dead, deadData string
	consumer                         string
	slots                            chan struct{} // one per entry this process holds
	queueSize                        int
	maxDead                          int
	claimIdle, poll                  time.Duration

	cursor            string // XAUTOCLAIM position; the reader goroutine's own
	queued, scheduled atomic.Int64
	errWarn, backlog  warnLimiter
}

func newRedisQueue(p *Pool, rdb redis.UniversalClient, prefix string, prefetch, queueSize, maxDead int, claimIdle, poll time.Duration) *redisQueue {
	return &redisQueue{
		p: p, rdb: rdb,
		stream: prefix + keyStream, retryKey: prefix + keyRetry, dead: prefix + keyDead, deadData: prefix + keyDeadData,
		consumer:  consumerName(),
		slots:     make(chan struct{}, prefetch),
		queueSize: queueSize, maxDead: maxDead, claimIdle: claimIdle, poll: poll,
		cursor:  "0-0",
		errWarn: warnLimiter{every: 10 * time.Second},
		backlog: warnLimiter{every: time.Minute},
	}
}

// consumerName is unique per process: hostname-pid-random.
func consumerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

func (r *redisQueue) push(ctx context.Context, j *job) error {
	payload, err := json.Marshal(j)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.p.enqueueTO)
	defer cancel()
	err = r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: r.stream, Values: []any{fieldJob, payload}}).Err()
	if err != nil {
		return fmt.Errorf("callback: enqueue: %w", err)
	}
	return nil
}

func (r *redisQueue) start(ctx context.Context, wg *sync.WaitGroup) {
	if err := r.ensureGroup(ctx); err != nil && ctx.Err() == nil {
		r.warnErr("callback: create consumer group", err)
	}
	wg.Go(func() { r.reader(ctx) })
	wg.Go(func() { r.maintain(ctx) })
}

// ensureGroup creates the consumer group from the stream's beginning, so events written before
// any pool ever ran are delivered too.
func (r *redisQueue) ensureGroup(ctx context.Context) error {
	err := r.rdb.XGroupCreateMkStream(ctx, r.stream, group, "0").Err()
	if err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil
	}
	return err
}

// reader takes entries whenever this process has room for them: first, once per poll
// interval, entries another consumer left pending past ClaimIdle (XAUTOCLAIM), then new ones
// (XREADGROUP). One goroutine does both so that claiming never starves behind reading.
func (r *redisQueue) reader(ctx context.Context) {
	var lastClaim time.Time
	for {
		n := r.acquire(ctx)
		if n == 0 {
			return
		}
		taken := 0
		if time.Since(lastClaim) >= r.poll {
			lastClaim = time.Now()
			taken = r.claim(ctx, n)
		}
		if taken == n {
			continue
		}
		res, err := r.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: r.consumer, Streams: []string{r.stream, ">"},
			Count: int64(n - taken), Block: r.poll,
		}).Result()
		for _, s := range res {
			for _, m := range s.Messages {
				r.take(m)
				taken++
			}
		}
		r.releaseN(n - taken)
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				return
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				err = r.ensureGroup(ctx)
			}
			if err != nil {
				r.warnErr("callback: read queue", err)
				sleep(ctx, r.poll)
			}
		}
	}
}

// acquire blocks for one slot, then takes as many more as are free, up to readBatch. It
// returns 0 when ctx is done.
func (r *redisQueue) acquire(ctx context.Context) int {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	return 1 + r.tryAcquire(readBatch-1)
}

// tryAcquire takes up to n free slots without waiting.
func (r *redisQueue) tryAcquire(n int) int {
	got := 0
	for got < n {
		select {
		case r.slots <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

func (r *redisQueue) releaseN(n int) {
	for range n {
		<-r.slots
	}
}

// take hands a stream entry, whose slot is held, to the workers.
func (r *redisQueue) take(m redis.XMessage) {
	var j job
	raw, _ := m.Values[fieldJob].(string)
	err := json.Unmarshal([]byte(raw), &j)
	var d *delivery
	if err == nil {
		d, err = newDelivery(j)
	}
	if err != nil {
		// Not a job this code wrote: it can never be delivered, so it must not block the
		// group's pending list forever.
		r.p.log.Error("callback: dropping malformed queue entry", "entry", m.ID, "error", err)
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_ = r.settle(ctx, m.ID, "ack", 0, "", "")
		r.releaseN(1)
		return
	}
	d.entry = m.ID
	r.p.work <- d // never blocks: a slot is held, and p.work has one place per slot
}

// maintain moves due retries back to the stream and measures the backlog, every poll
// interval.
func (r *redisQueue) maintain(ctx context.Context) {
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		r.promote(ctx)
		r.measure(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *redisQueue) promote(ctx context.Context) {
	now := r.p.clock.Now().UnixMilli()
	for range 20 { // bounded per tick; the rest waits for the next one
		n, err := promoteScript.Run(ctx, r.rdb, []string{r.retryKey, r.stream}, now, promoteBatch).Int()
		if err != nil {
			if ctx.Err() == nil {
				r.warnErr("callback: move due retries", err)
			}
			return
		}
		if n < promoteBatch {
			return
		}
	}
}

// claim takes over up to n entries pending longer than ClaimIdle with any consumer (a crashed
// or stuck replica) and hands them to the workers; n slots are held for them. It returns how
// many it handed over.
func (r *redisQueue) claim(ctx context.Context, n int) int {
	msgs, next, err := r.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: r.stream, Group: group, Consumer: r.consumer,
		MinIdle: r.claimIdle, Start: r.cursor, Count: int64(n),
	}).Result()
	if err != nil {
		if ctx.Err() == nil && !strings.HasPrefix(err.Error(), "NOGROUP") {
			r.warnErr("callback: claim abandoned entries", err)
		}
		return 0
	}
	r.cursor = next
	taken := 0
	for _, m := range msgs {
		if taken == n {
			break // cannot happen (COUNT bounds the reply); never overfill p.work
		}
		if m.Values == nil {
			continue // deleted entry
		}
		r.take(m)
		taken++
	}
	if taken > 0 {
		r.p.log.Info("callback claimed entries abandoned by another consumer", "entries", taken)
	}
	return taken
}

// measure records the backlog for Stats and warns when it exceeds the queue size.
func (r *redisQueue) measure(ctx context.Context) {
	var xlen, zcard *redis.IntCmd
	_, err := r.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		xlen = pl.XLen(ctx, r.stream)
		zcard = pl.ZCard(ctx, r.retryKey)
		return nil
	})
	if err != nil {
		return
	}
	r.queued.Store(xlen.Val())
	r.scheduled.Store(zcard.Val())
	if xlen.Val() > int64(r.queueSize) {
		if ok, _ := r.backlog.allow(); ok {
			r.p.log.Warn("callback queue saturated: events wait in Redis", "backlog", xlen.Val(), "queue_size", r.queueSize)
		}
	}
}

func (r *redisQueue) warnErr(msg string, err error) {
	if ok, suppressed := r.errWarn.allow(); ok {
		r.p.log.Warn(msg, "error", err, "suppressed", suppressed)
	}
}

// settle runs settleScript; errNotOwned when another consumer settled the entry first.
func (r *redisQueue) settle(ctx context.Context, entry, action string, score int64, payload, id string) error {
	n, err := settleScript.Run(ctx, r.rdb, []string{r.stream, r.retryKey, r.dead, r.deadData},
		group, entry, action, score, payload, id, r.maxDead).Int()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNotOwned
	}
	return nil
}

func (r *redisQueue) ack(ctx context.Context, d *delivery) error {
	return r.settle(ctx, d.entry, "ack", 0, "", d.ID)
}

func (r *redisQueue) retry(ctx context.Context, d *delivery, due time.Time) error {
	payload, err := json.Marshal(&d.job)
	if err != nil {
		return err
	}
	return r.settle(ctx, d.entry, "retry", due.UnixMilli(), string(payload), d.ID)
}

func (r *redisQueue) bury(ctx context.Context, d *delivery) error {
	payload, err := json.Marshal(&d.job)
	if err != nil {
		return err
	}
	return r.settle(ctx, d.entry, "dead", d.FailedAt, string(payload), d.ID)
}

func (r *redisQueue) release(*delivery) { r.releaseN(1) }

func (r *redisQueue) deadLetters(ctx context.Context, limit int) ([]job, error) {
	if limit <= 0 || limit > r.maxDead {
		limit = r.maxDead
	}
	recs, err := deadScript.Run(ctx, r.rdb, []string{r.dead, r.deadData}, limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("callback: read dead letters: %w", err)
	}
	out := make([]job, 0, len(recs))
	for _, rec := range recs {
		var j job
		if json.Unmarshal([]byte(rec), &j) == nil {
			out = append(out, j)
		}
	}
	return out, nil
}

func (r *redisQueue) replay(ctx context.Context, id string) error {
	rec, err := r.rdb.HGet(ctx, r.deadData, id).Result()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("callback: replay: %w", err)
	}
	var j job
	if err := json.Unmarshal([]byte(rec), &j); err != nil {
		return fmt.Errorf("callback: replay: malformed dead letter: %w", err)
	}
	j.Attempt, j.FailedAt = 0, 0
	payload, err := json.Marshal(&j)
	if err != nil {
		return err
	}
	n, err := replayScript.Run(ctx, r.rdb, []string{r.dead, r.deadData, r.stream}, id, string(payload)).Int()
	if err != nil {
		return fmt.Errorf("callback: replay: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// stop removes this process's consumer from the group unless it still holds entries (those
// are claimed by another consumer after ClaimIdle).
func (r *redisQueue) stop(ctx context.Context) {
	if err := leaveScript.Run(ctx, r.rdb, []string{r.stream}, group, r.consumer).Err(); err != nil {
		r.p.log.Warn("callback: leave consumer group", "error", err)
	}
}

func (r *redisQueue) depth() (int64, int64) { return r.queued.Load(), r.scheduled.Load() }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
