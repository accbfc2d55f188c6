package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/client"
)

const usageToken = `Usage: assetgateway token <create|get|status|delete> [flags] [TOKEN]

  token create --bucket B --key K --method GET|HEAD|PUT|DELETE [flags]
                        mint a token
  token get TOKEN       show its record
  token status TOKEN    show its record and a live look at its object
  token delete TOKEN    revoke it at once

Run 'assetgateway help token <command>' for the flags of each.
`

const usageTokenCreate = `Usage: assetgateway token create --bucket B --key K --method GET|HEAD|PUT|DELETE [flags]

Mints a token (POST /token) and prints the answer as JSON; "url" is the object URL to hand out.

  --bucket ALIAS         a configured bucket alias (required)
  --key KEY              the object key (required)
  --method METHOD        GET, HEAD, PUT or DELETE (required)
  --filename NAME        file name offered to browsers (Content-Disposition)
  --expires-in DURATION  lifetime: 90s, 30m, 1h, 2h30m, or seconds (default: the gateway's, 30m)
  --expire-at TIME       end of life: Unix seconds or RFC 3339 (not with --expires-in)
  --max-hits N           successful GETs/PUTs allowed, -1 for unlimited
                         (default: 1 for PUT and DELETE, unlimited for GET and HEAD)
  --size SIZE            upload limit: bytes, or with a unit (KB, MB, GB, KiB, MiB, GiB), -1 for none
  --callback URL         http(s) URL that receives a webhook after every access
  --token TOKEN          a custom token (16-128 of A-Z a-z 0-9 _ -); default: a random one
  --gateway, --control-token, --quiet   see 'assetgateway help'
`

const usageTokenGet = `Usage: assetgateway token get TOKEN

Prints the token's record as JSON (GET /token/{token}).
  --gateway, --control-token, --quiet   see 'assetgateway help'
`

const usageTokenStatus = `Usage: assetgateway token status TOKEN

Prints the token's record plus "uploaded", "object_exists", "object_size" and "etag" from a
live HEAD of the object (GET /token/{token}/status), as JSON.
  --gateway, --control-token, --quiet   see 'assetgateway help'
`

const usageTokenDelete = `Usage: assetgateway token delete TOKEN

Revokes the token on every replica at once (DELETE /token/{token}) and prints
{"token": "...", "deleted": true}. Exit status 1 with token_not_found if there was none.
  --gateway, --control-token, --quiet   see 'assetgateway help'
`

const usageCallbacks = `Usage: assetgateway callbacks <failed|retry> [flags]

  callbacks failed [--limit N]   list the webhooks that were given up, newest first
  callbacks retry ID             queue one again (same webhook-id, fresh retry schedule)
`

const usageCallbacksFailed = `Usage: assetgateway callbacks failed [--limit N]

Prints the failed webhooks (GET /callbacks/failed), newest first, as a JSON array.
  --limit N   at most N of them, 1-1000 (default: the gateway's, 100)
  --gateway, --control-token, --quiet   see 'assetgateway help'
`

const usageCallbacksRetry = `Usage: assetgateway callbacks retry ID

Queues the failed webhook ID again (POST /callbacks/failed/{id}/retry) and prints
{"id": "...", "queued": true}.
  --gateway, --control-token, --quiet   see 'assetgateway help'
`

// token runs "token <create|get|status|delete>".
func (c *cli) token(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usageToken)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.stdout, usageToken)
		return exitOK
	case "create":
		return c.status("token create", c.tokenCreate(ctx, args))
	case "get", "status", "delete":
		return c.status("token "+sub, c.tokenOne(ctx, sub, args))
	}
	fmt.Fprintf(c.stderr, "assetgateway token: unknown command %q\nRun 'assetgateway help token' for usage.\n", sub)
	return exitUsage
}

// tokenCreate runs "token create".
func (c *cli) tokenCreate(ctx context.Context, args []string) error {
	fs, co := c.flags("token create")
	var (
		req                      client.CreateRequest
		expiresIn, expireAt      string
		maxHits, size            optional
		bucket, key, method, tok string
	)
	fs.StringVar(&bucket, "bucket", "", "")
	fs.StringVar(&key, "key", "", "")
	fs.StringVar(&method, "method", "", "")
	fs.StringVar(&req.Filename, "filename", "", "")
	fs.StringVar(&expiresIn, "expires-in", "", "")
	fs.StringVar(&expireAt, "expire-at", "", "")
	fs.Var(&maxHits, "max-hits", "")
	fs.Var(&size, "size", "")
	fs.StringVar(&req.Callback, "callback", "", "")
	fs.StringVar(&tok, "token", "", "")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	var missing []string
	for _, f := range []struct{ name, value string }{{"--bucket", bucket}, {"--key", key}, {"--method", method}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return c.usageError(fs.Name(), "missing %s", strings.Join(missing, ", "))
	}
	req.Bucket, req.Key, req.Method, req.Token = bucket, key, strings.ToUpper(method), tok
	switch req.Method {
	case client.MethodGet, client.MethodHead, client.MethodPut, client.MethodDelete:
	default:
		return c.usageError(fs.Name(), "--method: want GET, HEAD, PUT or DELETE")
	}
	if expiresIn != "" && expireAt != "" {
		return c.usageError(fs.Name(), "give --expires-in or --expire-at, not both")
	}
	if expiresIn != "" {
		secs, err := parseLifetime(expiresIn)
		if err != nil {
			return c.usageError(fs.Name(), "--expires-in: %v", err)
		}
		req.ExpiresIn = &secs
	}
	if expireAt != "" {
		at, err := parseInstant(expireAt)
		if err != nil {
			return c.usageError(fs.Name(), "--expire-at: %v", err)
		}
		req.ExpireAt = &at
	}
	if maxHits.set {
		n, err := strconv.ParseInt(maxHits.value, 10, 64)
		if err != nil {
			return c.usageError(fs.Name(), "--max-hits: want a whole number, or -1 for unlimited")
		}
		req.MaxHits = &n
	}
	if size.set {
		n, err := parseSize(size.value)
		if err != nil {
			return c.usageError(fs.Name(), "--size: %v", err)
		}
		req.Size = &n
	}
	api, err := c.newClient(fs, co, true)
	if err != nil {
		return err
	}
	created, err := api.CreateToken(ctx, req)
	if err != nil {
		return err
	}
	return c.printJSON(created)
}

// tokenOne runs "token get|status|delete TOKEN".
func (c *cli) tokenOne(ctx context.Context, sub string, args []string) error {
	fs, co := c.flags("token " + sub)
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	tok := pos[0]
	api, err := c.newClient(fs, co, true)
	if err != nil {
		return err
	}
	switch sub {
	case "get":
		rec, err := api.GetToken(ctx, tok)
		if err != nil {
			return err
		}
		return c.printJSON(rec)
	case "status":
		st, err := api.Status(ctx, tok)
		if err != nil {
			return err
		}
		return c.printJSON(st)
	default:
		if err := api.DeleteToken(ctx, tok); err != nil {
			return err
		}
		return c.printJSON(struct {
			Token   string `json:"token"`
			Deleted bool   `json:"deleted"`
		}{tok, true})
	}
}

// callbacks runs "callbacks <failed|retry>".
func (c *cli) callbacks(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usageCallbacks)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.stdout, usageCallbacks)
		return exitOK
	case "failed":
		return c.status("callbacks failed", c.callbacksFailed(ctx, args))
	case "retry":
		return c.status("callbacks retry", c.callbacksRetry(ctx, args))
	}
	fmt.Fprintf(c.stderr, "assetgateway callbacks: unknown command %q\nRun 'assetgateway help callbacks' for usage.\n", sub)
	return exitUsage
}

func (c *cli) callbacksFailed(ctx context.Context, args []string) error {
	fs, co := c.flags("callbacks failed")
	limit := fs.Int("limit", 0, "")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *limit < 0 || *limit > 1000 {
		return c.usageError(fs.Name(), "--limit: want 1 to 1000")
	}
	api, err := c.newClient(fs, co, true)
	if err != nil {
		return err
	}
	list, err := api.FailedCallbacks(ctx, *limit)
	if err != nil {
		return err
	}
	return c.printJSON(list)
}

func (c *cli) callbacksRetry(ctx context.Context, args []string) error {
	fs, co := c.flags("callbacks retry")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	api, err := c.newClient(fs, co, true)
	if err != nil {
		return err
	}
	if err := api.RetryCallback(ctx, pos[0]); err != nil {
		return err
	}
	return c.printJSON(struct {
		ID     string `json:"id"`
		Queued bool   `json:"queued"`
	}{pos[0], true})
}

// optional is a string flag that remembers whether it was given.
type optional struct {
	value string
	set   bool
}

func (o *optional) String() string { return o.value }
func (o *optional) Set(s string) error {
	o.value, o.set = s, true
	return nil
}

// parseLifetime reads a lifetime as a Go duration ("90m", "1h30m") or whole seconds
// ("3600"), and returns whole seconds.
func parseLifetime(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("must be positive")
		}
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 90s, 30m, 1h, or seconds")
	}
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("must be a positive whole number of seconds")
	}
	return int64(d / time.Second), nil
}

// parseInstant reads Unix seconds or an RFC 3339 time.
func parseInstant(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("want Unix seconds or an RFC 3339 time (2026-01-02T15:04:05Z)")
	}
	return t.Unix(), nil
}

// sizeUnits are the units --size accepts; KB, MB, GB are powers of ten, KiB, MiB, GiB of two.
var sizeUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// parseSize reads "-1", "1048576", "64KiB", "10 MB".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "-1" {
		return client.Unlimited, nil
	}
	num, factor := s, int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, factor = strings.TrimSpace(rest), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want bytes (1048576), a size with a unit (1MiB, 10MB), or -1")
	}
	if n > math.MaxInt64/factor {
		return 0, fmt.Errorf("too large")
	}
	return n * factor, nil
}

// Interface check: optional is a flag.Value.
var _ flag.Value = (*optional)(nil)
