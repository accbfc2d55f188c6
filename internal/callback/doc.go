// Package callback delivers the gateway's webhooks: a fixed pool of workers takes events from a
// queue and POSTs them, signed, to their callback URLs, retrying on a schedule and
// dead-lettering what never gets through.
//
// # Delivery guarantees
//
//   - At least once, with Redis. Enqueue returns nil only after the event is in Redis. A process
//     killed at any point loses nothing: entries it had taken stay pending in the consumer
//     group and another consumer (any replica, or this one after a restart) takes them over
//     with XAUTOCLAIM once they have been idle for ClaimIdle. An event is delivered again —
//     never lost — when a process dies between a receiver's 2xx and the acknowledgement, or
//     when an attempt outlives ClaimIdle. In the normal case each event is attempted by one
//     consumer at a time and delivered once.
//   - Best effort, without Redis. The queue lives in process memory: a crash or a restart loses
//     what is queued or scheduled (New says so in the log), and a full queue drops new events
//     (Enqueue returns ErrQueueFull, Stats.Dropped counts them, a rate-limited warning is logged).
//   - Idempotency key. Each event gets a webhook-id at Enqueue ("msg_" + 128 random bits) that
//     stays the same across retries, redeliveries and Replay; receivers deduplicate on it.
//   - Signed (Standard Webhooks v1). Every attempt carries webhook-id, webhook-timestamp (Unix
//     seconds, per attempt) and webhook-signature: "v1,<base64 HMAC-SHA256(key,
//     id.timestamp.body)>", one per configured secret, space-separated; a "whsec_" secret's key
//     is its base64-decoded bytes, any other secret's key is its raw bytes. The body is
//     json.Marshal(Event), byte-identical on every attempt; nothing else is ever added to it.
//   - Retried. A 2xx response delivers. Any other status (3xx included: redirects are never
//     followed), a timeout or a connection error is a failed attempt, retried after the next
//     delay of the schedule (jittered ±20%) or after the receiver's Retry-After (seconds or
//     HTTP-date, capped at the longest configured delay). 410 Gone, or a failure after the last
//     delay, moves the event to the dead letters (the newest MaxDeadLetters, default 10000,
//     are kept). Replay puts a dead letter back for immediate delivery with a fresh schedule.
//   - Isolated. Workers bound concurrency; PerHost bounds concurrent deliveries to one
//     host:port, and an event whose host is saturated is put back for BusyDelay rather than
//     holding a worker. Each attempt is bounded by Timeout; at most 64 KiB of a response is
//     read. Enqueue never waits for a receiver.
//   - SSRF-proof. Guard.CheckURL (at token mint time) and the pool's dialer (on the address
//     actually connected to, at every attempt) refuse the addresses Denied lists unless
//     AllowPrivate is set. The transport uses no proxy from the environment.
//
// # Redis key layout
//
// Every key starts with Options.KeyPrefix and shares the hash tag {cb}, so each script and
// command touches a single slot on Redis Cluster:
//
//	<prefix>{cb}:stream     STREAM  events to deliver, one field "job" (JSON); consumer group "delivery"
//	<prefix>{cb}:retry      ZSET    job JSON scored by the Unix ms it is due again
//	<prefix>{cb}:dead       ZSET    webhook-id scored by the Unix ms it was dead-lettered
//	<prefix>{cb}:dead:data  HASH    webhook-id → job JSON (target, body, attempts, last error)
//
// An entry moves between states only inside a Lua script, so no crash between two commands
// loses or duplicates it:
//
//	Enqueue ──XADD──▶ stream ──XREADGROUP / XAUTOCLAIM──▶ pending (one consumer)
//	pending ──2xx: XACK+XDEL──▶ gone
//	pending ──failure / host busy: XACK+XDEL+ZADD retry──▶ retry ──due: XADD+ZREM──▶ stream
//	pending ──410 / schedule exhausted: XACK+XDEL+HSET+ZADD dead──▶ dead
//	dead ──Replay: HDEL+ZREM+XADD──▶ stream
//
// A settlement applies only if its XACK acknowledges the entry, so when two consumers hold the
// same entry (one claimed it from the other) only the first to finish moves it. Delivered
// entries are deleted, so the stream holds exactly the undelivered events and is never
// trimmed.
package callback
