package token

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientOptions configures NewRedisClient.
type ClientOptions struct {
	// Addr is the single Redis server's host:port; ignored when MasterName or ClusterAddrs is
	// set.
	Addr, Username, Password string
	// DB is the database number; Redis Cluster has only database 0, so it is ignored with
	// ClusterAddrs.
	DB int
	// MasterName, when set, selects Redis Sentinel: the client asks SentinelAddrs which
	// server is the primary of that name, and follows failovers. Username and Password are
	// then the primary's; SentinelPassword is the sentinels' own.
	MasterName       string
	SentinelAddrs    []string
	SentinelPassword string
	// ClusterAddrs, when set, selects Redis Cluster: host:port seed nodes from which the
	// client learns every master and the slots each one serves, and follows MOVED and ASK
	// redirects (resharding, failover). Username and Password are the nodes'.
	ClusterAddrs []string
	// Timeout bounds dialing and every command.
	Timeout time.Duration
	// PoolSize caps connections (per node with ClusterAddrs); zero is go-redis's default.
	PoolSize int
}

// NewRedisClient returns a client tuned for the store — single node, the primary Sentinel
// names when o.MasterName is set, or a Redis Cluster when o.ClusterAddrs is set: no automatic
// retries (see NewRedisStore), every command bounded by Timeout and by the caller's context,
// and one connection attempt per dial (the client's default of five would let a request wait
// five timeouts for a silent host).
//
// A cluster client follows MOVED and ASK redirects (up to go-redis's default of 3): the node
// refused the command without running it, so sending it where the slot now lives cannot count
// a hit twice. But its redirect loop also re-sends a command after a network error, a timeout
// or a dial failure — which for a consume whose reply was lost would count the hit again — so
// every node's transport errors are marked final (see finalTransportErrors).
func NewRedisClient(o ClientOptions) redis.UniversalClient {
	u := &redis.UniversalOptions{
		Addrs:                 []string{o.Addr},
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		DialTimeout:           o.Timeout,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		PoolTimeout:           o.Timeout,
		PoolSize:              o.PoolSize,
		MaxRetries:            -1, // for the sentinels too: a retried consume could count twice
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
		// MaxRedirects: go-redis's default (3).
	}
	switch {
	case len(o.ClusterAddrs) > 0:
		u.Addrs, u.IsClusterMode = o.ClusterAddrs, true
	case o.MasterName != "":
		u.Addrs, u.MasterName, u.SentinelPassword = o.SentinelAddrs, o.MasterName, o.SentinelPassword
	}
	c := redis.NewUniversalClient(u)
	if cc, ok := c.(*redis.ClusterClient); ok {
		// Registered before the first command: node clients are created lazily, each one
		// through OnNewNode, so none escapes the hook.
		cc.OnNewNode(func(node *redis.Client) { node.AddHook(finalTransportErrors{}) })
	}
	return c
}

// finalTransportErrors is a hook on each node client of a cluster client. The cluster
// client's command loop runs up to MaxRedirects+1 times and, besides following MOVED and ASK,
// re-sends a command whose error looks transient: EOF, a connection reset, a read timeout, a
// failed dial, a pool timeout (MaxRetries -1 does not stop that loop). After a write, the
// command may well have run — a consume would be counted twice — and a dead node would cost
// several timeouts instead of one. So every error that is not a reply from Redis comes back
// wrapped in transportError, which that loop does not recognise as retryable: the caller gets
// it at once, as from a single-node client. Replies from Redis (MOVED, ASK, CLUSTERDOWN,
// TRYAGAIN, LOADING, …: the command did not run), redis.Nil and redis.ErrClosed pass
// unchanged, so redirects are still followed; so does any error once ctx is done (the
// caller's cancellation stays visible to errors.Is).
//
// Pipelines are left alone: the cluster client decides their retries before any hook sees
// the error, so a pipeline may be re-sent after a transport error. Never pipeline a script
// that must not run twice (a consume); a create re-sent after its reply was lost answers
// "exists" for the record it filed itself.
type finalTransportErrors struct{}

func (finalTransportErrors) DialHook(next redis.DialHook) redis.DialHook { return next }

func (finalTransportErrors) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		var reply redis.Error
		if err == nil || ctx.Err() != nil || errors.As(err, &reply) || errors.Is(err, redis.ErrClosed) {
			// With ctx done the loop cannot re-send: its back-off sleep ends on ctx first.
			return err
		}
		return &transportError{err: err}
	}
}

func (finalTransportErrors) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// transportError carries a node's transport error with its message, but deliberately without
// Unwrap (nor Timeout): go-redis's retry test looks through wrapping for io.EOF, net.Error and
// timeouts, and must find none.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
