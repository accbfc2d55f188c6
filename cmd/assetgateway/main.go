// Command assetgateway serves temporary, countable, revocable access to objects in
// S3-compatible buckets and local directories.
//
//	assetgateway -config config.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/assetgateway/assetgateway/internal/api"
	"github.com/assetgateway/assetgateway/internal/callback"
	"github.com/assetgateway/assetgateway/internal/config"
	"github.com/assetgateway/assetgateway/internal/metrics"
	"github.com/assetgateway/assetgateway/internal/objstore"
	"github.com/assetgateway/assetgateway/internal/proxy"
	"github.com/assetgateway/assetgateway/internal/s3api"
	"github.com/assetgateway/assetgateway/internal/token"
	"github.com/assetgateway/assetgateway/internal/upload"
)

func main() {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(runCLI(os.Args[1:])) // subcommands: see cli.go
	}
	configPath := flag.String("config", "config.yaml", "path of the YAML configuration file")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	logFormat := flag.String("log-format", "json", "json or text")
	debugAddr := flag.String("debug-addr", "", "if set, serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); never expose it")
	flag.Parse()

	log, err := newLogger(os.Stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "assetgateway:", err)
		os.Exit(2)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "assetgateway: invalid configuration %s:\n%v\n", *configPath, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *debugAddr != "" {
		if err := serveDebug(ctx, *debugAddr, log); err != nil {
			log.Error("debug_listener", "error", err)
			os.Exit(1)
		}
	}
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exit", "error", err)
		os.Exit(1)
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want json or text", format)
}

// run builds every part from cfg, serves until ctx is cancelled, then shuts down in order:
// stop accepting and drain in-flight requests, drain the callback queue, close the store.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	var (
		store token.Store
		rdb   redis.UniversalClient
	)
	if cfg.Redis.Embedded() {
		store = token.NewMemoryStore(token.MemoryOptions{Retention: cfg.Token.Retention})
		log.Warn("token_store_embedded", "detail",
			"redis.addr is empty: tokens live in this process only, are lost on restart and cannot be shared by replicas")
	} else {
		rdb = token.NewRedisClient(token.ClientOptions{
			Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password,
			DB: cfg.Redis.DB, Timeout: cfg.Redis.Timeout, PoolSize: cfg.Redis.PoolSize,
			MasterName: cfg.Redis.Sentinel.MasterName, SentinelAddrs: cfg.Redis.Sentinel.Addrs,
			SentinelPassword: cfg.Redis.Sentinel.Password, ClusterAddrs: cfg.Redis.Cluster.Addrs,
		})
		store = token.NewRedisStore(token.RedisOptions{Client: rdb, KeyPrefix: cfg.Redis.KeyPrefix, Retention: cfg.Token.Retention,
			WaitReplicas: cfg.Redis.WaitReplicas, WaitTimeout: cfg.Redis.WaitTimeout})
		pctx, cancel := context.WithTimeout(ctx, cfg.Redis.Timeout)
		if err := store.Ping(pctx); err != nil {
			// Serve anyway: requests get 503 store_unavailable until Redis answers.
			log.Warn("token_store_unreachable", "addr", cfg.Redis.Addr, "master_name", cfg.Redis.Sentinel.MasterName,
				"cluster", strings.Join(cfg.Redis.Cluster.Addrs, ","), "error", err)
		}
		cancel()
	}
	defer store.Close()

	backends, err := openBuckets(ctx, cfg)
	if err != nil {
		return err
	}
	m := metrics.New()
	ready := map[string]func(context.Context) error{"store": store.Ping}
	advisory := map[string]func(context.Context) error{}
	redirects := map[string]bool{}
	redirect := map[string]proxy.Redirect{}
	for alias, b := range backends {
		redirects[alias] = objstore.CanPresign(b)
		bc := cfg.Buckets[alias]
		redirect[alias] = proxy.Redirect{Default: bc.Delivery == "redirect", TTL: bc.PresignTTL}
		if c, ok := b.(interface{ Check(context.Context) error }); ok {
			advisory["bucket "+alias] = c.Check
		}
		backends[alias] = m.InstrumentBackend(alias, b)
	}
	timedStore := m.InstrumentStore(store)
	owners := map[string]upload.Owner{} // the owner of each kind of upload session, by Kind
	s3Kind, s3Janitor := s3Owner(backends)
	owners[s3Kind] = s3Janitor

	secrets := []string{}
	for _, s := range []string{cfg.Callback.Secret, cfg.Callback.PreviousSecret} {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	guard := &callback.Guard{AllowPrivate: cfg.Callback.AllowPrivate}

	pool, err := callback.New(callback.Options{
		Redis:        rdb,
		KeyPrefix:    cfg.Redis.KeyPrefix,
		Workers:      cfg.Callback.Workers,
		QueueSize:    cfg.Callback.QueueSize,
		PerHost:      cfg.Callback.PerHost,
		Timeout:      cfg.Callback.Timeout,
		Secrets:      secrets,
		Retries:      cfg.Callback.Retries,
		AllowPrivate: cfg.Callback.AllowPrivate,
		Logger:       log.With("component", "callback"),
		DrainTimeout: cfg.Server.ShutdownTimeout,
	})
	if err != nil {
		return fmt.Errorf("callback pool: %w", err)
	}
	m.WatchCallbacks(pool)

	ips, err := api.NewClientIP(cfg.Server.TrustedProxies)
	if err != nil {
		return err
	}
	objects := proxy.New(proxy.Options{
		Store:    timedStore,
		Buckets:  backends,
		Notifier: pool,
		ClientIP: ips.Of,
		Logger:   log.With("component", "proxy"),
		Redirect: redirect,
	})
	buckets := make(map[string]api.Bucket, len(backends))
	for alias, b := range backends {
		buckets[alias] = b
	}
	handler := api.New(api.Options{
		Tokens:        timedStore,
		Objects:       objects,
		Buckets:       buckets,
		Redirects:     redirects,
		ControlTokens: cfg.Control.Tokens,
		Host:          cfg.Server.Host,
		MaxTTL:        cfg.Token.MaxTTL,
		MaxBody:       int64(cfg.Server.MaxControlBody),
		Callbacks:     guard,
		DeadLetters:   pool,
		CORS:          api.CORS{AllowedOrigins: cfg.Server.CORS.AllowedOrigins, MaxAge: cfg.Server.CORS.MaxAge},
		S3:            s3Credentials(cfg),
		Metrics:       m,
		Ready:         ready,
		Advisory:      advisory,
		RateLimit:     api.RateLimit{PerMinute: cfg.Server.RateLimit.PerMinute, Burst: cfg.Server.RateLimit.Burst},
		ClientIP:      ips.Of,
		Logger:        log,
	})

	srv, err := newServer(cfg, handler, log)
	if err != nil {
		return err
	}
	s3srv, err := newS3Server(cfg, s3api.Options{Store: timedStore, Objects: objects, Buckets: backends, ClientIP: ips.Of, Metrics: m}, log)
	if err != nil {
		srv.ln.Close() // not serving yet: its listener is all there is to close
		return err
	}

	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPool()
	poolDone := make(chan error, 1)
	go func() { poolDone <- pool.Run(poolCtx) }()
	stopJanitor := startJanitor(cfg, timedStore, owners, log)
	defer stopJanitor()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.serve() }()
	s3srv.start(log)

	storeKind := "redis"
	if cfg.Redis.Embedded() {
		storeKind = "embedded"
	}
	aliases := make([]string, 0, len(backends))
	for a := range backends {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	log.Info("listening", "addr", srv.ln.Addr().String(), "host", cfg.Server.Host, "store", storeKind,
		"buckets", strings.Join(aliases, ","))

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

// openBuckets builds one backend per alias.
func openBuckets(ctx context.Context, cfg *config.Config) (map[string]objstore.Backend, error) {
	out := make(map[string]objstore.Backend, len(cfg.Buckets))
	budget := objstore.NewUploadBudget(int64(cfg.Server.UploadMemory)) // shared by every S3 alias
	for alias, b := range cfg.Buckets {
		switch b.Driver {
		case config.DriverFile:
			f, err := objstore.NewFile(b.Root)
			if err != nil {
				return nil, fmt.Errorf("bucket %s: %w", alias, err)
			}
			out[alias] = f
		default:
			o := objstore.S3Options{
				Bucket: b.Bucket, Region: b.Region, Endpoint: b.Endpoint, ForcePathStyle: b.ForcePathStyle,
				CAFile: b.CAFile, PartSize: int64(b.PartSize), PartConcurrency: b.PartConcurrency,
				ResponseTimeout: b.ResponseTimeout, UploadBudget: budget,
			}
			if b.Credential != "" {
				c := cfg.Credentials[b.Credential]
				o.AccessKey, o.SecretKey, o.SessionToken = c.AccessKey, c.SecretKey, c.SessionToken
			}
			s, err := objstore.NewS3(ctx, o)
			if err != nil {
				return nil, fmt.Errorf("bucket %s: %w", alias, err)
			}
			out[alias] = s
		}
	}
	return out, nil
}
