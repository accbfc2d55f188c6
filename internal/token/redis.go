package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a RedisStore.
type RedisOptions struct {
	// Client is any go-redis client: single node, Sentinel (failover) or Cluster.
	Client redis.UniversalClient
	// KeyPrefix is prepended to every key, e.g. "ag:".
	KeyPrefix string
	// Retention is how long a record stays readable after its expire_at.
	Retention time.Duration
	// Now is the clock used for expiry checks; nil means time.Now. Gateway replicas compare
	// expire_at against their own clocks, so keep them in sync (NTP).
	Now func() time.Time
	// WaitReplicas, when positive, makes every write that grants or revokes access — Create,
	// Delete and an Access that consumed a hit — wait (Redis WAIT, on the connection that
	// wrote) until at least this many replicas have acknowledged it. When fewer do within
	// WaitTimeout the call fails with ErrUnavailable and is undone as far as possible: a
	// consumed hit is refunded (Access grants nothing, so nothing is served), a new record is
	// removed again. Zero: off — replication is asynchronous, and a failover can lose the last
	// writes (hits counted, revocations).
	//
	// It needs a client with a Conn method (*redis.Client: single node or Sentinel); with any
	// other client every such write fails with ErrUnavailable (fail closed).
	WaitReplicas int
	// WaitTimeout bounds each WAIT (rounded up to whole milliseconds). Keep it shorter than
	// the client's command timeout, which bounds the WAIT too. Required with WaitReplicas
	// (redis.wait_timeout: internal/config owns the default).
	WaitTimeout time.Duration
}

// RedisStore keeps records in Redis; any number of gateway replicas can share it and every
// hit is counted exactly once across them.
type RedisStore struct {
	c            redis.UniversalClient
	prefix       string
	retention    time.Duration
	now          func() time.Time
	waitReplicas int
	waitTimeout  time.Duration
}

// NewRedisStore returns a store on o.Client. The client should not retry commands on its own
// (MaxRetries -1, as NewRedisClient sets): a retried consume whose first reply was lost would
// count a hit twice.
func NewRedisStore(o RedisOptions) *RedisStore {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	wt := o.WaitTimeout
	return &RedisStore{c: o.Client, prefix: o.KeyPrefix, retention: o.Retention, now: now,
		waitReplicas: o.WaitReplicas, waitTimeout: wt}
}

func (s *RedisStore) recordKey(id string) string { return s.prefix + "{" + id + "}" }

// createScript files a record unless the key exists (answering 1 again for the generation it
// filed, so a command re-sent after a lost reply is not mistaken for a taken token).
// KEYS[1] record; ARGV[1] PEXPIREAT (Unix ms); ARGV[2:] field, value, ...
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  -- The same generation means this very create ran before (a re-sent pipeline): done.
  for i = 2, #ARGV - 1, 2 do
    if ARGV[i] == 'g' then
      if redis.call('HGET', KEYS[1], 'g') == ARGV[i + 1] then return 1 end
    end
  end
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
`)

// accessScript checks and consumes, in the contract's order. It answers {status} on refusal,
// {'adm', 0, fields} for a record that constrains its clients and was not yet admitted in
// this generation, and {'ok', used_hits, fields, notify} on success, the fields as they were
// before the hit.
// KEYS[1] record; ARGV[1] now (Unix ms); ARGV[2] request method; ARGV[3] content length or -1;
// ARGV[4] the generation the caller admitted the client on ("": none); ARGV[5] the HEAD
// webhook interval (ms); ARGV[6] the S3 credential nonce the record must carry ("": any).
var accessScript = redis.NewScript(`
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return {'nf'} end
local r = {}
for i = 1, #h, 2 do r[h[i]] = h[i + 1] end
if ARGV[6] ~= '' and r.s3 ~= ARGV[6] then return {'nf'} end
local now = tonumber(ARGV[1])
local method = ARGV[2]
if (r.ip or (r.ct and method == 'PUT')) and ARGV[4] ~= r.g then return {'adm', 0, h} end
if now >= tonumber(r.e) * 1000 then return {'exp'} end
if method == 'GET' and r.m == 'LIST' then method = 'LIST' end
if method ~= 'HEAD' and method ~= r.m then return {'meth'} end
local used = tonumber(r.u or '0')
if method == 'HEAD' then
  local notify = 0
  if r.c and now - tonumber(r.hw or '0') >= tonumber(ARGV[5]) then
    redis.call('HSET', KEYS[1], 'hw', ARGV[1])
    notify = 1
  end
  return {'ok', used, h, notify}
end
local max = tonumber(r.h or '-1')
if max ~= -1 and used >= max then return {'hits'} end
local size = tonumber(r.s or '-1')
if method == 'PUT' and size ~= -1 and tonumber(ARGV[3]) > size then return {'size'} end
used = redis.call('HINCRBY', KEYS[1], 'u', 1)
return {'ok', used, h, 1}
`)

// refundScript hands back one hit, only to the generation that granted it. It writes no key
// of its own: Grant.refunded makes a refund apply once per Grant, and the client never
// re-sends a command (see NewRedisClient). KEYS[1] record; ARGV[1] generation.
var refundScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'u') or '0') <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'u', -1)
return 1
`)

// markScript sets the uploaded flag on the generation that granted the upload; it never
// re-creates a deleted record. KEYS[1] record; ARGV[1] generation.
var markScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'up', '1')
return 1
`)

// dropScript removes a record, but only the generation given: it undoes a Create whose
// replication could not be confirmed. KEYS[1] record; ARGV[1] generation.
var dropScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)

// undoTimeout bounds the best-effort undo (refund, drop) after a failed WAIT; it runs on a
// context detached from the caller's, which may be about to end.
const undoTimeout = 2 * time.Second

// writer is a client that can pin one connection, so that WAIT follows the write it guards
// on the same connection.
type writer interface {
	Conn() *redis.Conn
}

// session returns where to run a write and a function to call afterwards with whether the
// write happened: with WaitReplicas on, it runs WAIT on the same connection and reports too
// few acknowledgements as ErrUnavailable; it always releases the connection.
func (s *RedisStore) session() (redis.Cmdable, func(ctx context.Context, op string, wrote bool) error) {
	if s.waitReplicas <= 0 {
		return s.c, func(context.Context, string, bool) error { return nil }
	}
	w, ok := s.c.(writer)
	if !ok {
		return s.c, func(_ context.Context, op string, wrote bool) error {
			if !wrote {
				return nil
			}
			return s.fail(op, errors.New("wait_replicas needs a single-node or Sentinel client"))
		}
	}
	conn := w.Conn()
	return conn, func(ctx context.Context, op string, wrote bool) error {
		defer conn.Close()
		if !wrote {
			return nil
		}
		ms := max(1, (s.waitTimeout+time.Millisecond-1)/time.Millisecond)
		n, err := conn.Do(ctx, "WAIT", s.waitReplicas, int64(ms)).Int()
		if err != nil {
			return s.fail(op+" wait", err)
		}
		if n < s.waitReplicas {
			return s.fail(op, fmt.Errorf("%d of %d replicas acknowledged the write within %s",
				n, s.waitReplicas, s.waitTimeout))
		}
		return nil
	}
}

// undoContext is the context for undoing a write after a failed WAIT.
func undoContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
}

// Create implements Store.
func (s *RedisStore) Create(ctx context.Context, token string, rec Record) error {
	args := make([]any, 0, 2+2*10)
	deadline := time.Unix(rec.ExpireAt, 0).Add(s.retention)
	args = append(args, deadline.UnixMilli())
	gen := newGeneration()
	args = appendFields(args, rec, gen)
	key := s.recordKey(ID(token))
	c, done := s.session()
	ok, err := createScript.Run(ctx, c, []string{key}, args...).Int()
	if werr := done(ctx, "create", err == nil && ok == 1); werr != nil {
		// Unconfirmed: take the record back (if it is still ours), so that a custom token
		// can be minted again. If the undo fails too, the token exists without the client
		// knowing it — harmless for a random token, 409 token_exists on a retry of a custom one.
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = dropScript.Run(uctx, s.c, []string{key}, gen).Err()
		return werr
	}
	if err != nil {
		return s.fail("create", err)
	}
	if ok == 0 {
		return ErrExists
	}
	return nil
}

// appendFields encodes rec as hash field/value pairs, leaving defaults out.
func appendFields(args []any, rec Record, gen string) []any {
	args = append(args, "b", rec.Bucket, "k", rec.Key, "m", rec.Method, "e", rec.ExpireAt, "g", gen)
	if rec.MaxHits != Unlimited {
		args = append(args, "h", rec.MaxHits)
	}
	if rec.Filename != "" {
		args = append(args, "f", rec.Filename)
	}
	if rec.Size != Unlimited {
		args = append(args, "s", rec.Size)
	}
	if rec.Callback != "" {
		args = append(args, "c", rec.Callback)
	}
	if rec.UsedHits != 0 {
		args = append(args, "u", rec.UsedHits)
	}
	if rec.Uploaded {
		args = append(args, "up", "1")
	}
	for _, f := range []struct{ name, value string }{
		{"p", rec.Prefix}, {"dl", rec.Delivery}, {"ct", strings.Join(rec.ContentTypes, ",")},
		{"sh", rec.SHA256}, {"ip", strings.Join(rec.IPs, ",")}, {"d", rec.Disposition},
		{"cc", rec.CacheControl}, {"s3", rec.S3},
	} {
		if f.value != "" {
			args = append(args, f.name, f.value)
		}
	}
	if len(rec.Metadata) > 0 {
		md, _ := json.Marshal(rec.Metadata) // map[string]string always marshals
		args = append(args, "md", string(md))
	}
	if rec.IfNoneMatch {
		args = append(args, "inm", "1")
	}
	return args
}

// GetID implements Store.
func (s *RedisStore) GetID(ctx context.Context, id string) (Record, error) {
	m, err := s.c.HGetAll(ctx, s.recordKey(id)).Result()
	if err != nil {
		return Record{}, s.fail("get", err)
	}
	if len(m) == 0 {
		return Record{}, ErrNotFound
	}
	rec := Record{MaxHits: Unlimited, Size: Unlimited}
	for k, v := range m {
		if err := rec.set(k, v, nil); err != nil {
			return Record{}, s.fail("get", err)
		}
	}
	return rec, nil
}

// Delete implements Store. With WaitReplicas on, a deletion the replicas did not confirm
// answers ErrUnavailable: the token is gone on the primary, but a failover could bring it
// back, so the caller should retry (a retry that finds nothing answers ErrNotFound).
func (s *RedisStore) Delete(ctx context.Context, token string) error {
	c, done := s.session()
	n, err := c.Del(ctx, s.recordKey(ID(token))).Result()
	if werr := done(ctx, "delete", err == nil && n > 0); werr != nil {
		return werr
	}
	if err != nil {
		return s.fail("delete", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	s.uploadsDue(ctx, ID(token)) // its uploads end now (upload_redis.go)
	return nil
}

// AccessID implements Store. With WaitReplicas on, a consumed hit the replicas did not
// confirm is refunded and the access fails with ErrUnavailable: nothing may be served on a
// count that a failover could lose.
func (s *RedisStore) AccessID(ctx context.Context, id string, req Request) (*Grant, error) {
	admitted := ""
	for round := 0; ; round++ {
		g, rec, err := s.access(ctx, id, req, admitted)
		if rec == nil || err != nil {
			return g, err
		}
		// The record constrains its clients: judge this one before anything is consumed,
		// then access the generation that was judged. A record re-minted in between is
		// judged again, once.
		if round > 0 {
			return nil, s.fail("access", errors.New("the record changed twice while its client was admitted"))
		}
		if req.Admit != nil {
			if err := req.Admit(&rec.Record); err != nil {
				return nil, err
			}
		}
		admitted = rec.gen
	}
}

// access runs the access script once. It returns the Grant, or — for a record that asks
// for admission first — the record as a Grant-shaped value with a nil Grant.
func (s *RedisStore) access(ctx context.Context, id string, req Request, admitted string) (*Grant, *Grant, error) {
	c, done := s.session()
	res, err := accessScript.Run(ctx, c, []string{s.recordKey(id)},
		s.now().UnixMilli(), req.Method, req.ContentLength, admitted, HeadNotifyInterval.Milliseconds(), req.S3).Slice()
	consumed := err == nil && len(res) > 0 && res[0] == "ok" && req.Method != MethodHead
	werr := done(ctx, "access", consumed)
	if err != nil {
		return nil, nil, s.fail("access", err)
	}
	status, _ := res[0].(string)
	switch status {
	case "ok", "adm":
	case "nf":
		return nil, nil, ErrNotFound
	case "exp":
		return nil, nil, ErrExpired
	case "meth":
		return nil, nil, ErrMethodNotAllowed
	case "hits":
		return nil, nil, ErrHitsExceeded
	case "size":
		return nil, nil, ErrSizeExceeded
	default:
		return nil, nil, s.fail("access", fmt.Errorf("unexpected script reply %q", status))
	}
	used, _ := res[1].(int64)
	fields, _ := res[2].([]any)
	g := &Grant{id: id, Consumed: status == "ok" && req.Method != MethodHead}
	g.Record = Record{MaxHits: Unlimited, Size: Unlimited}
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		if err := g.Record.set(k, v, &g.gen); err != nil {
			return nil, nil, s.fail("access", err)
		}
	}
	if status == "adm" {
		return nil, g, nil
	}
	g.Record.UsedHits = used
	if len(res) > 3 {
		notify, _ := res[3].(int64)
		g.Notify = notify == 1
	}
	if werr != nil {
		// Hand the hit back on the primary (best effort): if it stays primary, the client can
		// retry; if a replica without the hit takes over, the refund is simply lost with it.
		// A refund only lowers the count, so it can never let a token serve past max_hits.
		uctx, cancel := undoContext(ctx)
		defer cancel()
		_ = s.Refund(uctx, g)
		return nil, nil, werr
	}
	return g, nil, nil
}

// Refund implements Store.
func (s *RedisStore) Refund(ctx context.Context, g *Grant) error {
	if !g.Consumed || !g.refunded.CompareAndSwap(false, true) {
		return nil
	}
	if err := refundScript.Run(ctx, s.c, []string{s.recordKey(g.id)}, g.gen).Err(); err != nil {
		return s.fail("refund", err)
	}
	return nil
}

// MarkUploaded implements Store.
func (s *RedisStore) MarkUploaded(ctx context.Context, g *Grant) error {
	if err := markScript.Run(ctx, s.c, []string{s.recordKey(g.id)}, g.gen).Err(); err != nil {
		return s.fail("mark uploaded", err)
	}
	return nil
}

// Ping implements Store.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close implements Store; it closes the client.
func (s *RedisStore) Close() error { return s.c.Close() }

// fail translates a Redis failure into the store's contract: the caller's cancellation stays
// a context error, anything else is ErrUnavailable.
func (s *RedisStore) fail(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("token store %s: %w", op, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
}

// set decodes one hash field into r. gen receives the generation when non-nil.
func (r *Record) set(field, value string, gen *string) error {
	var err error
	switch field {
	case "b":
		r.Bucket = value
	case "k":
		r.Key = value
	case "f":
		r.Filename = value
	case "m":
		r.Method = value
	case "c":
		r.Callback = value
	case "e":
		r.ExpireAt, err = strconv.ParseInt(value, 10, 64)
	case "h":
		r.MaxHits, err = strconv.ParseInt(value, 10, 64)
	case "u":
		r.UsedHits, err = strconv.ParseInt(value, 10, 64)
	case "s":
		r.Size, err = strconv.ParseInt(value, 10, 64)
	case "up":
		r.Uploaded = value == "1"
	case "p":
		r.Prefix = value
	case "dl":
		r.Delivery = value
	case "ct":
		r.ContentTypes = strings.Split(value, ",")
	case "sh":
		r.SHA256 = value
	case "ip":
		r.IPs = strings.Split(value, ",")
	case "d":
		r.Disposition = value
	case "cc":
		r.CacheControl = value
	case "s3":
		r.S3 = value
	case "inm":
		r.IfNoneMatch = value == "1"
	case "md":
		err = json.Unmarshal([]byte(value), &r.Metadata)
	case "g":
		if gen != nil {
			*gen = value
		}
	}
	if err != nil {
		return fmt.Errorf("corrupt record field %q: %w", field, err)
	}
	return nil
}
