// Command assetgateway serves temporary, countable, revocable access to objects in
// S3-compatible buckets and local directories.
//
//	assetgateway -config config.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/assetgateway/assetgateway/internal/config"
	"github.com/assetgateway/assetgateway/internal/objstore"
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

// openBuckets builds one backend per alias; budget bounds the part buffers of every upload.
func openBuckets(ctx context.Context, cfg *config.Config, budget *objstore.UploadBudget) (map[string]objstore.Backend, error) {
	out := make(map[string]objstore.Backend, len(cfg.Buckets))
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
