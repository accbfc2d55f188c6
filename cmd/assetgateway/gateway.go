package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/config"
	"github.com/assetgateway/assetgateway/internal/metrics"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/s3api"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/tus"
	"github.com/assetgateway/assetgateway/internal/upload"
	"github.com/assetgateway/assetgateway/internal/uppy"
)

// gateway holds the parts of one process, built from the configuration in this order by
// the builders below: the token store, the object stores, the webhook pool, the handlers, the
// server.
type gateway struct {
	cfg *config.Config
	log *slog.Logger

	rdb      redis.UniversalClient // nil with the embedded store
	store    token.Store           // timed by metrics
	rawStore token.Store           // the store itself, closed last
	backends map[string]objstore.Backend
	budget   *objstore.UploadBudget // part buffers of every upload path, S3 PUTs and tus alike
	metrics  *metrics.Metrics
	pool     *callback.Pool
	owners   map[string]upload.Owner // the owner of each kind of upload session, by Kind
	clientIP func(*http.Request) string
	objects  *proxy.Handler // /object, also behind the S3 listener
	handler  http.Handler
}

// run builds every part from cfg, serves until ctx is cancelled, then shuts down in order:
// stop accepting and drain in-flight requests, stop the upload janitor, drain the callback
// queue, close the store.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	g := &gateway{cfg: cfg, log: log, metrics: metrics.New(), owners: map[string]upload.Owner{}}
	g.openStore(ctx)
	defer g.rawStore.Close()
	if err := g.openBackends(ctx); err != nil {
		return err
	}
	if err := g.newPool(); err != nil {
		return err
	}
	if err := g.newHandler(); err != nil {
		return err
	}
	srv, err := newServer(cfg, g.handler, log)
	if err != nil {
		return err
	}
	s3srv, err := newS3Server(cfg, s3api.Options{Store: g.store, Objects: g.objects, Buckets: g.backends,
		ClientIP: g.clientIP, Metrics: g.metrics}, log)
	if err != nil {
		srv.ln.Close() // not serving yet: its listener is all there is to close
		return err
	}
	return g.serve(ctx, srv, s3srv)
}

// openStore opens the token store: the embedded one, or Redis (single, Sentinel, Cluster).
// An unreachable Redis is logged, not fatal: requests get 503 store_unavailable until it
// answers.
func (g *gateway) openStore(ctx context.Context) {
	cfg, log := g.cfg, g.log
	if cfg.Redis.Embedded() {
		g.rawStore = token.NewMemoryStore(token.MemoryOptions{Retention: cfg.Token.Retention})
		log.Warn("token_store_embedded", "detail",
			"redis.addr is empty: tokens live in this process only, are lost on restart and cannot be shared by replicas")
	} else {
		g.rdb = token.NewRedisClient(token.ClientOptions{
			Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password,
			DB: cfg.Redis.DB, Timeout: cfg.Redis.Timeout, PoolSize: cfg.Redis.PoolSize,
			MasterName: cfg.Redis.Sentinel.MasterName, SentinelAddrs: cfg.Redis.Sentinel.Addrs,
			SentinelPassword: cfg.Redis.Sentinel.Password, ClusterAddrs: cfg.Redis.Cluster.Addrs,
		})
		g.rawStore = token.NewRedisStore(token.RedisOptions{Client: g.rdb, KeyPrefix: cfg.Redis.KeyPrefix,
			Retention: cfg.Token.Retention, WaitReplicas: cfg.Redis.WaitReplicas, WaitTimeout: cfg.Redis.WaitTimeout})
		pctx, cancel := context.WithTimeout(ctx, cfg.Redis.Timeout)
		if err := g.rawStore.Ping(pctx); err != nil {
			log.Warn("token_store_unreachable", "addr", cfg.Redis.Addr, "master_name", cfg.Redis.Sentinel.MasterName,
				"cluster", strings.Join(cfg.Redis.Cluster.Addrs, ","), "error", err)
		}
		cancel()
	}
	g.store = g.metrics.InstrumentStore(g.rawStore)
}

// openBackends opens one object store per bucket alias, timed by metrics.
func (g *gateway) openBackends(ctx context.Context) error {
	g.budget = objstore.NewUploadBudget(int64(g.cfg.Server.UploadMemory))
	backends, err := openBuckets(ctx, g.cfg, g.budget)
	if err != nil {
		return err
	}
	g.backends = make(map[string]objstore.Backend, len(backends))
	for alias, b := range backends {
		g.backends[alias] = g.metrics.InstrumentBackend(alias, b)
	}
	return nil
}

// newPool builds the webhook pool: durable on Redis, in memory with the embedded store.
func (g *gateway) newPool() error {
	cb := g.cfg.Callback
	var secrets []string
	for _, s := range []string{cb.Secret, cb.PreviousSecret} {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	pool, err := callback.New(callback.Options{
		Redis:        g.rdb,
		KeyPrefix:    g.cfg.Redis.KeyPrefix,
		Workers:      cb.Workers,
		QueueSize:    cb.QueueSize,
		PerHost:      cb.PerHost,
		Timeout:      cb.Timeout,
		Secrets:      secrets,
		Retries:      cb.Retries,
		AllowPrivate: cb.AllowPrivate,
		Logger:       g.log.With("component", "callback"),
		DrainTimeout: g.cfg.Server.ShutdownTimeout,
	})
	if err != nil {
		return fmt.Errorf("callback pool: %w", err)
	}
	g.metrics.WatchCallbacks(pool)
	g.pool = pool
	return nil
}

// newHandler builds /object and the API around it.
func (g *gateway) newHandler() error {
	cfg := g.cfg
	ips, err := api.NewClientIP(cfg.Server.TrustedProxies)
	if err != nil {
		return err
	}
	ready := map[string]func(context.Context) error{"store": g.rawStore.Ping}
	advisory := map[string]func(context.Context) error{}
	redirects := map[string]bool{}
	redirect := map[string]proxy.Redirect{}
	buckets := make(map[string]api.Bucket, len(g.backends))
	for alias, b := range g.backends {
		redirects[alias] = objstore.CanPresign(b)
		bc := cfg.Buckets[alias]
		redirect[alias] = proxy.Redirect{Default: bc.Delivery == "redirect", TTL: bc.PresignTTL}
		if c, ok := b.(interface{ Check(context.Context) error }); ok {
			advisory["bucket "+alias] = c.Check
		}
		buckets[alias] = b
	}
	direct := newUppy(cfg, g.backends, g.store, g.pool, ips.Of, g.log)
	g.owners[uppy.Kind] = direct
	resumable := newTus(cfg, g.store, g.backends, g.budget, g.pool, ips.Of, g.log)
	g.owners[tus.Kind] = resumable
	// The S3 listener's abandoned multipart uploads are ended whether or not this replica
	// listens: another may.
	g.owners[s3api.Kind] = s3api.Owner{Buckets: g.backends}
	g.clientIP = ips.Of
	g.objects = proxy.New(proxy.Options{
		Store:    g.store,
		Buckets:  g.backends,
		Notifier: g.pool,
		ClientIP: ips.Of,
		Logger:   g.log.With("component", "proxy"),
		Redirect: redirect,
	})
	g.handler = api.New(api.Options{
		Tokens:        g.store,
		Objects:       g.objects,
		Uppy:          direct,
		Tus:           resumable,
		Buckets:       buckets,
		Redirects:     redirects,
		ControlTokens: cfg.Control.Tokens,
		Host:          cfg.Server.Host,
		MaxTTL:        cfg.Token.MaxTTL,
		MaxBody:       int64(cfg.Server.MaxControlBody),
		Callbacks:     &callback.Guard{AllowPrivate: cfg.Callback.AllowPrivate},
		DeadLetters:   g.pool,
		CORS:          api.CORS{AllowedOrigins: cfg.Server.CORS.AllowedOrigins, MaxAge: cfg.Server.CORS.MaxAge},
		S3:            s3Credentials(cfg),
		Metrics:       g.metrics,
		Ready:         ready,
		Advisory:      advisory,
		RateLimit:     api.RateLimit{PerMinute: cfg.Server.RateLimit.PerMinute, Burst: cfg.Server.RateLimit.Burst},
		ClientIP:      ips.Of,
		Logger:        g.log,
	})
	return nil
}

// serve runs the server, the S3 listener (when on), the webhook pool and the upload janitor
// until ctx is done or a listener fails, then stops them in order: the listeners (in-flight
// requests get server.shutdown_timeout), the janitor, the pool (it drains for as long again).
func (g *gateway) serve(ctx context.Context, srv *server, s3srv *s3Server) error {
	cfg, log := g.cfg, g.log
	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPool()
	poolDone := make(chan error, 1)
	go func() { poolDone <- g.pool.Run(poolCtx) }()
	stopJanitor := startJanitor(cfg, g.store, g.owners, log)
	defer stopJanitor()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.serve() }()
	s3srv.start(log)
	g.logListening(srv)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-serveDone:
	case <-s3srv.Done():
		serveErr = s3srv.Err()
	}
	log.Info("shutting_down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown_incomplete", "error", err)
		srv.Close()
	}
	s3srv.shutdown(sctx, log)
	stopJanitor()
	stopPool()
	if err := <-poolDone; err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("callback_drain_incomplete", "error", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	log.Info("stopped")
	return nil
}

func (g *gateway) logListening(srv *server) {
	storeKind := "redis"
	if g.cfg.Redis.Embedded() {
		storeKind = "embedded"
	}
	aliases := make([]string, 0, len(g.backends))
	for a := range g.backends {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	g.log.Info("listening", "addr", srv.ln.Addr().String(), "host", g.cfg.Server.Host, "store", storeKind,
		"buckets", strings.Join(aliases, ","))
}

// startJanitor runs the upload janitor in a goroutine of its own; stop ends it and waits for
// it (calling it again does nothing).
func startJanitor(cfg *config.Config, store upload.Store, owners map[string]upload.Owner, log *slog.Logger) (stop func()) {
	j := upload.NewJanitor(upload.JanitorOptions{Store: store, Owners: owners, Interval: cfg.Uploads.JanitorInterval,
		Logger: log.With("component", "uploads")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = j.Run(ctx) // returns ctx's error once stopped
	}()
	return func() {
		cancel()
		<-done
	}
}
