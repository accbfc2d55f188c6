package token

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore's upload sessions (the key layout is in the package doc). Every script touches
// the keys of one token only — one hash tag, one Cluster slot; the expiry index is another
// key, in a slot of its own, changed by separate single-key commands. The index is a hint:
// ExpiredUploads trusts the record it points at, so an index entry written without its
// record (or left behind) costs one look-up and is dropped.

func (s *RedisStore) uploadKey(tokenID, id string) string {
	return s.prefix + "{" + tokenID + "}u:" + id
}

func (s *RedisStore) uploadLockKey(tokenID, id string) string {
	return s.prefix + "{" + tokenID + "}l:" + id
}

func (s *RedisStore) uploadSetKey(tokenID string) string { return s.prefix + "{" + tokenID + "}us" }

func (s *RedisStore) dueKey() string { return s.prefix + "{uploads}due" }

// createUploadScript files an upload under a live token generation.
// KEYS[1] upload, KEYS[2] token, KEYS[3] the token's upload set; ARGV[1] generation,
// ARGV[2] PEXPIREAT (Unix ms), ARGV[3] upload id, ARGV[4:] field, value, ...
var createUploadScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], 'g') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
if redis.call('PEXPIRETIME', KEYS[3]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[3], ARGV[2]) end
return 1
`)

// getUploadScript reads an upload and its token. It answers {'nt'} when the token is gone,
// {'nu'} when the upload is (or belongs to another generation), else {'ok', upload, token}.
// KEYS[1] upload, KEYS[2] token.
var getUploadScript = redis.NewScript(`
local t = redis.call('HGETALL', KEYS[2])
if #t == 0 then return {'nt'} end
local g = redis.call('HGET', KEYS[1], 'g')
local tg
for i = 1, #t, 2 do if t[i] == 'g' then tg = t[i + 1] end end
if not g or g ~= tg then return {'nu'} end
return {'ok', redis.call('HGETALL', KEYS[1]), t}
`)

// updateUploadScript is a compare-and-set on the version. It answers {'nt'}, {'nu'}, {'cf'}
// (another version) or {'ok', new version, previous expires_at}.
// KEYS[1] upload, KEYS[2] token; ARGV[1] version, ARGV[2] grace ms, ARGV[3:] field, value, ...
// (expires_at "x" first).
var updateUploadScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 'g', 'x')
local tg = redis.call('HGET', KEYS[2], 'g')
if not tg then return {'nt'} end
if not cur[1] or cur[2] ~= tg then return {'nu'} end
if cur[1] ~= ARGV[1] then return {'cf'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
local keep = tonumber(ARGV[4]) + tonumber(ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < keep then redis.call('PEXPIREAT', KEYS[1], keep) end
return {'ok', v, cur[3]}
`)

// deleteUploadScript removes an upload, its lock and its set entry, handing its hit back to
// the generation that created it. KEYS[1] upload, KEYS[2] token, KEYS[3] lock, KEYS[4] set;
// ARGV[1] upload id.
var deleteUploadScript = redis.NewScript(`
local u = redis.call('HMGET', KEYS[1], 'h', 'g')
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
if not u[2] then return 0 end
if u[1] == '1' and redis.call('HGET', KEYS[2], 'g') == u[2] then
  if tonumber(redis.call('HGET', KEYS[2], 'u') or '0') > 0 then redis.call('HINCRBY', KEYS[2], 'u', -1) end
end
redis.call('DEL', KEYS[1])
return 1
`)

// lockUploadScript takes or renews a lease: 1 taken, 0 held by another, -1 no such upload.
// KEYS[1] lock, KEYS[2] upload; ARGV[1] holder, ARGV[2] ttl ms.
var lockUploadScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// unlockUploadScript releases a lease held by ARGV[1]. KEYS[1] lock.
var unlockUploadScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// claimUploadsScript hands out up to ARGV[3] index entries due at ARGV[1], moving each to
// ARGV[2] (the claim's end) so that no other caller gets it meanwhile. KEYS[1] the index.
var claimUploadsScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], m) end
return due
`)

// takeUploadScript locks a claimed upload for its claimant and reads it: {'gone'}, {'busy'}
// (another holder has the lock) or {'ok', upload, 1 if its token generation lives else 0}.
// KEYS[1] upload, KEYS[2] token, KEYS[3] lock; ARGV[1] holder, ARGV[2] lease ms.
var takeUploadScript = redis.NewScript(`
local u = redis.call('HGETALL', KEYS[1])
if #u == 0 then return {'gone'} end
if not redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'busy'} end
local g
for i = 1, #u, 2 do if u[i] == 'g' then g = u[i + 1] end end
local alive = 0
if redis.call('HGET', KEYS[2], 'g') == g then alive = 1 end
return {'ok', u, alive}
`)

// uploadFields encodes u's changeable fields, expires_at first.
func uploadFields(u Upload) []any {
	md := ""
	if len(u.Meta) > 0 {
		b, _ := json.Marshal(u.Meta) // map[string]string always marshals
		md = string(b)
	}
	hit := "0"
	if u.Hit {
		hit = "1"
	}
	return []any{"x", u.ExpiresAt, "s", u.StoreID, "l", u.Length, "o", u.Offset, "n", u.Parts, "p", u.Pending,
		"st", string(u.State), "md", md, "h", hit}
}

// set decodes one field of an upload hash.
func (u *Upload) set(field, value string) error {
	var err error
	var n int64
	switch field {
	case "t":
		u.Kind = value
	case "b":
		u.Bucket = value
	case "k":
		u.Key = value
	case "s":
		u.StoreID = value
	case "st":
		if value != "" {
			u.State = []byte(value)
		}
	case "md":
		if value != "" {
			err = json.Unmarshal([]byte(value), &u.Meta)
		}
	case "h":
		u.Hit = value == "1"
	case "l":
		u.Length, err = strconv.ParseInt(value, 10, 64)
	case "o":
		u.Offset, err = strconv.ParseInt(value, 10, 64)
	case "p":
		u.Pending, err = strconv.ParseInt(value, 10, 64)
	case "x":
		u.ExpiresAt, err = strconv.ParseInt(value, 10, 64)
	case "v":
		u.Version, err = strconv.ParseInt(value, 10, 64)
	case "n":
		n, err = strconv.ParseInt(value, 10, 32)
		u.Parts = int32(n)
	}
	if err != nil {
		return fmt.Errorf("corrupt upload field %q: %w", field, err)
	}
	return nil
}

// decodeUpload decodes an HGETALL reply of an upload hash.
func decodeUpload(id string, reply any) (Upload, error) {
	fields, _ := reply.([]any)
	u := Upload{ID: id}
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		if err := u.set(k, v); err != nil {
			return Upload{}, err
		}
	}
	return u, nil
}

// CreateUpload implements Uploads.
func (s *RedisStore) CreateUpload(ctx context.Context, g *Grant, u Upload) (Upload, error) {
	if u.ID == "" {
		u.ID = NewUploadID()
	}
	u.Version = 1
	member := dueMember(g.id, u.ID)
	// Indexed first: a record never exists without its index entry, so the janitor finds it.
	if err := s.c.ZAddNX(ctx, s.dueKey(), redis.Z{Score: float64(u.ExpiresAt), Member: member}).Err(); err != nil {
		return Upload{}, s.fail("create upload", err)
	}
	deadline := uploadDeadline(g.Record.ExpireAt, s.retention, u.ExpiresAt)
	args := []any{g.gen, deadline, u.ID, "t", u.Kind, "b", u.Bucket, "k", u.Key, "g", g.gen, "v", 1}
	args = append(args, uploadFields(u)...)
	keys := []string{s.uploadKey(g.id, u.ID), s.recordKey(g.id), s.uploadSetKey(g.id)}
	n, err := createUploadScript.Run(ctx, s.c, keys, args...).Int()
	switch {
	case err != nil:
		return Upload{}, s.fail("create upload", err)
	case n == -1:
		return Upload{}, ErrExists
	case n == 0:
		s.c.ZRem(ctx, s.dueKey(), member) // best effort: the janitor drops it anyway
		return Upload{}, ErrNotFound
	}
	return u, nil
}

// Upload implements Uploads.
func (s *RedisStore) Upload(ctx context.Context, tokenID, id string) (Upload, *Grant, error) {
	res, err := getUploadScript.Run(ctx, s.c, []string{s.uploadKey(tokenID, id), s.recordKey(tokenID)}).Slice()
	if err != nil {
		return Upload{}, nil, s.fail("get upload", err)
	}
	switch res[0] {
	case "nt":
		return Upload{}, nil, ErrNotFound
	case "nu":
		return Upload{}, nil, ErrUploadNotFound
	}
	u, err := decodeUpload(id, res[1])
	if err != nil {
		return Upload{}, nil, s.fail("get upload", err)
	}
	g := &Grant{id: tokenID, Record: Record{MaxHits: Unlimited, Size: Unlimited}}
	fields, _ := res[2].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		if err := g.Record.set(k, v, &g.gen); err != nil {
			return Upload{}, nil, s.fail("get upload", err)
		}
	}
	return u, g, nil
}

// UpdateUpload implements Uploads.
func (s *RedisStore) UpdateUpload(ctx context.Context, tokenID string, u Upload) (Upload, error) {
	args := append([]any{u.Version, uploadGrace.Milliseconds()}, uploadFields(u)...)
	res, err := updateUploadScript.Run(ctx, s.c, []string{s.uploadKey(tokenID, u.ID), s.recordKey(tokenID)}, args...).Slice()
	if err != nil {
		return Upload{}, s.fail("update upload", err)
	}
	switch res[0] {
	case "nt":
		return Upload{}, ErrNotFound
	case "nu":
		return Upload{}, ErrUploadNotFound
	case "cf":
		return Upload{}, ErrConflict
	}
	u.Version, _ = res[1].(int64)
	if prev, _ := res[2].(string); prev != strconv.FormatInt(u.ExpiresAt, 10) {
		// The index follows; if this fails, the janitor finds the old time, reads the record
		// and files it again under the right one.
		s.c.ZAdd(ctx, s.dueKey(), redis.Z{Score: float64(u.ExpiresAt), Member: dueMember(tokenID, u.ID)})
	}
	return u, nil
}

// DeleteUpload implements Uploads.
func (s *RedisStore) DeleteUpload(ctx context.Context, tokenID, id string) error {
	keys := []string{s.uploadKey(tokenID, id), s.recordKey(tokenID), s.uploadLockKey(tokenID, id), s.uploadSetKey(tokenID)}
	n, err := deleteUploadScript.Run(ctx, s.c, keys, id).Int()
	if err != nil {
		return s.fail("delete upload", err)
	}
	s.c.ZRem(ctx, s.dueKey(), dueMember(tokenID, id)) // best effort: a stale entry is dropped when due
	if n == 0 {
		return ErrUploadNotFound
	}
	return nil
}

// LockUpload implements Uploads.
func (s *RedisStore) LockUpload(ctx context.Context, tokenID, id, holder string, ttl time.Duration) (bool, error) {
	keys := []string{s.uploadLockKey(tokenID, id), s.uploadKey(tokenID, id)}
	n, err := lockUploadScript.Run(ctx, s.c, keys, holder, max(1, ttl.Milliseconds())).Int()
	if err != nil {
		return false, s.fail("lock upload", err)
	}
	if n == -1 {
		return false, ErrUploadNotFound
	}
	return n == 1, nil
}

// UnlockUpload implements Uploads.
func (s *RedisStore) UnlockUpload(ctx context.Context, tokenID, id, holder string) error {
	if err := unlockUploadScript.Run(ctx, s.c, []string{s.uploadLockKey(tokenID, id)}, holder).Err(); err != nil {
		return s.fail("unlock upload", err)
	}
	return nil
}

// ExpiredUploads implements Uploads.
func (s *RedisStore) ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]Due, error) {
	members, err := claimUploadsScript.Run(ctx, s.c, []string{s.dueKey()},
		now.UnixMilli(), now.Add(UploadClaim).UnixMilli(), limit).StringSlice()
	if err != nil {
		return nil, s.fail("expired uploads", err)
	}
	holder := "janitor:" + NewUploadID()
	var out []Due
	for _, m := range members {
		tokenID, id, ok := strings.Cut(m, "/")
		if !ok {
			s.c.ZRem(ctx, s.dueKey(), m)
			continue
		}
		keys := []string{s.uploadKey(tokenID, id), s.recordKey(tokenID), s.uploadLockKey(tokenID, id)}
		res, err := takeUploadScript.Run(ctx, s.c, keys, holder, UploadClaim.Milliseconds()).Slice()
		if err != nil {
			return out, s.fail("expired uploads", err) // the rest stays claimed until the claim ends
		}
		switch res[0] {
		case "gone":
			s.c.ZRem(ctx, s.dueKey(), m)
			continue
		case "busy": // a writer has it: look again soon, not only once the claim has run out
			s.c.ZAdd(ctx, s.dueKey(), redis.Z{Score: float64(now.Add(uploadBusyRetry).UnixMilli()), Member: m})
			continue
		}
		u, err := decodeUpload(id, res[1])
		if err != nil {
			return out, s.fail("expired uploads", err)
		}
		if alive, _ := res[2].(int64); alive == 1 && u.ExpiresAt > now.UnixMilli() {
			// Not due (the index was behind the record): put it back where it belongs.
			_ = s.UnlockUpload(ctx, tokenID, id, holder)
			s.c.ZAdd(ctx, s.dueKey(), redis.Z{Score: float64(u.ExpiresAt), Member: m})
			continue
		}
		out = append(out, Due{TokenID: tokenID, Upload: u, Holder: holder})
	}
	return out, nil
}

// uploadsDue makes every upload of a deleted token due at once, best effort: should it fail,
// they end at their own expiry, at the latest the token's expire_at.
func (s *RedisStore) uploadsDue(ctx context.Context, tokenID string) {
	ids, err := s.c.SMembers(ctx, s.uploadSetKey(tokenID)).Result()
	if err != nil || len(ids) == 0 {
		return
	}
	zs := make([]redis.Z, len(ids))
	for i, id := range ids {
		zs[i] = redis.Z{Score: 0, Member: dueMember(tokenID, id)}
	}
	s.c.ZAdd(ctx, s.dueKey(), zs...)
}
