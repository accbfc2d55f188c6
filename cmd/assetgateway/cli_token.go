package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assetgateway/assetgateway/client"
	"github.com/assetgateway/assetgateway/internal/strictjson"
)

const usageToken = `Usage: assetgateway token <create|create-batch|get|status|delete> [flags] [TOKEN|FILE]

  token create --bucket B (--key K | --prefix P) --method GET|HEAD|PUT|DELETE|LIST [flags]
                             mint a token
  token create-batch FILE|-  mint up to 1000 tokens described in a JSON file, in one call
  token get TOKEN            show its record
  token status TOKEN         show its record and a live look at its object
  token delete TOKEN         revoke it at once

Run 'assetgateway help token <command>' for the flags of each.
`

const usageTokenCreate = `Usage: assetgateway token create --bucket B (--key K | --prefix P) --method METHOD [flags]

Mints a token (POST /token) and prints the answer as JSON; "url" is the object URL to hand out.

  --bucket ALIAS         a configured bucket alias (required)
  --key KEY              the object key (this, or --prefix, is required)
  --prefix PREFIX        instead of --key: every object whose key starts with PREFIX, served at
                         <url>/<rest of the key> by a GET or HEAD token, listed by a LIST token
  --method METHOD        GET, HEAD, PUT, DELETE, or LIST (with --prefix) (required)
  --filename NAME        file name offered to browsers (Content-Disposition)
  --disposition MODE     attachment (save the file, the default) or inline (show it)
  --expires-in DURATION  lifetime: 90s, 30m, 1h, 2h30m, or seconds (default: the gateway's, 30m)
  --expire-at TIME       end of life: Unix seconds or RFC 3339 (not with --expires-in)
  --max-hits N           successful GETs/PUTs/DELETEs/listing pages allowed, -1 for unlimited
                         (default: 1 for PUT and DELETE, unlimited for the others)
  --size SIZE            upload limit: bytes, or with a unit (KB, MB, GB, KiB, MiB, GiB), -1 for none
  --callback URL         http(s) URL that receives a webhook after every access
  --token TOKEN          a custom token (16-128 of A-Z a-z 0-9 _ -); default: a random one
  --delivery MODE        stream (the gateway moves the bytes) or redirect (307 to a short-lived
                         presigned URL of the bucket; GET and PUT tokens of an S3 bucket)
                         (default: the bucket's configuration, usually stream)
  --ip ADDR|CIDR         a client address the token works from (10.0.0.7, 10.0.0.0/8,
                         2001:db8::/32); repeat for more (default: anywhere)
  --cache-control VALUE  Cache-Control of the downloads instead of "private, no-store"
  --s3                   S3 credentials too (printed as "s3"), for S3 clients (aws CLI, boto3,
                         mc) of the gateway's S3 listener (needs s3api.listen)

Upload constraints (PUT tokens):
  --content-type-allowed TYPE  a media type an upload may declare (image/png, image/*);
                         repeat for more (default: any)
  --sha256 HEX           the SHA-256 the upload must have (64 hex digits); anything else is
                         refused and nothing is stored
  --meta NAME=VALUE      user metadata stored with the object; repeat for more
  --if-none-match        never overwrite an object that already exists

  --gateway, --control-token, --quiet   see 'assetgateway help'
`

const usageTokenCreateBatch = `Usage: assetgateway token create-batch FILE|-

Mints up to 1000 tokens in one call (POST /tokens). FILE (or standard input, with -) holds a
JSON array of token descriptions, each with the fields of POST /token (the JSON names, not
the flags of 'token create'):

  [{"bucket": "assets", "key": "a.jpg", "method": "GET", "max_hits": 1},
   {"bucket": "assets", "prefix": "album/", "method": "LIST"}]

({"tokens": [...]}, the HTTP body itself, is read too.) A field name that is not one of
POST /token's, also in another case, is refused before anything is sent. The gateway checks
the whole batch first: one invalid item refuses all of them, and the error names each
problem by its index (tokens[3].key: required). Otherwise it prints the results as a JSON
array, in order: {"status": 201, "token", "method", "filename", "expire_at", "url"} for each
minted token, {"status": 409, "code": "token_exists", "message"} for a custom token that was
taken; the exit status is then 1 if any item was not minted.

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
	case "create-batch":
		return c.status("token create-batch", c.tokenCreateBatch(ctx, args))
	case "get", "status", "delete":
		return c.status("token "+sub, c.tokenOne(ctx, sub, args))
	}
	fmt.Fprintf(c.stderr, "assetgateway token: unknown command %q\nRun 'assetgateway help token' for usage.\n", sub)
	return exitUsage
}

// tokenCreate runs "token create".
func (c *cli) tokenCreate(ctx context.Context, args []string) error {
	fs, co := c.flags("token create")
	var cf createFlags
	cf.bind(fs)
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	req, err := cf.request()
	if err != nil {
		return c.usageError(fs.Name(), "%v", err)
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

// createFlags are the flags of "token create", one per POST /token field.
type createFlags struct {
	req                      client.CreateRequest
	expiresIn, expireAt      string
	maxHits, size            optional
	bucket, key, method, tok string
	contentTypes, meta, ips  repeated
}

func (cf *createFlags) bind(fs *flag.FlagSet) {
	req := &cf.req
	fs.StringVar(&cf.bucket, "bucket", "", "")
	fs.StringVar(&cf.key, "key", "", "")
	fs.StringVar(&req.Prefix, "prefix", "", "")
	fs.StringVar(&cf.method, "method", "", "")
	fs.StringVar(&req.Filename, "filename", "", "")
	fs.StringVar(&cf.expiresIn, "expires-in", "", "")
	fs.StringVar(&cf.expireAt, "expire-at", "", "")
	fs.Var(&cf.maxHits, "max-hits", "")
	fs.Var(&cf.size, "size", "")
	fs.StringVar(&req.Callback, "callback", "", "")
	fs.StringVar(&cf.tok, "token", "", "")
	fs.StringVar(&req.Delivery, "delivery", "", "")
	fs.Var(&cf.contentTypes, "content-type-allowed", "")
	fs.StringVar(&req.SHA256, "sha256", "", "")
	fs.Var(&cf.meta, "meta", "")
	fs.BoolVar(&req.IfNoneMatch, "if-none-match", false, "")
	fs.Var(&cf.ips, "ip", "")
	fs.StringVar(&req.Disposition, "disposition", "", "")
	fs.StringVar(&req.CacheControl, "cache-control", "", "")
	fs.BoolVar(&req.S3, "s3", false, "")
}

// request builds the POST /token body the flags describe; its error is a usage error.
func (cf *createFlags) request() (client.CreateRequest, error) {
	req := cf.req
	var missing []string
	for _, f := range []struct{ name, value string }{{"--bucket", cf.bucket}, {"--key or --prefix", cf.key + req.Prefix}, {"--method", cf.method}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	switch {
	case len(missing) > 0:
		return req, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	case cf.key != "" && req.Prefix != "":
		return req, errors.New("give --key or --prefix, not both")
	case cf.expiresIn != "" && cf.expireAt != "":
		return req, errors.New("give --expires-in or --expire-at, not both")
	}
	req.Bucket, req.Key, req.Method, req.Token = cf.bucket, cf.key, strings.ToUpper(cf.method), cf.tok
	switch req.Method {
	case client.MethodGet, client.MethodHead, client.MethodPut, client.MethodDelete, client.MethodList:
	default:
		return req, errors.New("--method: want GET, HEAD, PUT, DELETE or LIST")
	}
	req.ContentTypes, req.IP = cf.contentTypes, cf.ips
	for _, kv := range cf.meta {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return req, fmt.Errorf("--meta %q: want NAME=VALUE", kv)
		}
		if _, dup := req.Metadata[name]; dup {
			return req, fmt.Errorf("--meta: %q given twice", name)
		}
		if req.Metadata == nil {
			req.Metadata = map[string]string{}
		}
		req.Metadata[name] = value
	}
	return req, cf.numbers(&req)
}

// numbers parses the lifetime, hit and size flags into req.
func (cf *createFlags) numbers(req *client.CreateRequest) error {
	if cf.expiresIn != "" {
		secs, err := parseLifetime(cf.expiresIn)
		if err != nil {
			return fmt.Errorf("--expires-in: %v", err)
		}
		req.ExpiresIn = &secs
	}
	if cf.expireAt != "" {
		at, err := parseInstant(cf.expireAt)
		if err != nil {
			return fmt.Errorf("--expire-at: %v", err)
		}
		req.ExpireAt = &at
	}
	if cf.maxHits.set {
		n, err := strconv.ParseInt(cf.maxHits.value, 10, 64)
		if err != nil {
			return errors.New("--max-hits: want a whole number, or -1 for unlimited")
		}
		req.MaxHits = &n
	}
	if cf.size.set {
		n, err := parseSize(cf.size.value)
		if err != nil {
			return fmt.Errorf("--size: %v", err)
		}
		req.Size = &n
	}
	return nil
}

// maxBatchFile caps the JSON file of "token create-batch" (the gateway's own cap,
// server.max_control_body, is usually far lower).
const maxBatchFile = 64 << 20

// tokenCreateBatch runs "token create-batch FILE|-".
func (c *cli) tokenCreateBatch(ctx context.Context, args []string) error {
	fs, co := c.flags("token create-batch")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var in io.Reader
	if pos[0] == "-" {
		if c.isTerminal(c.stdin) {
			return c.usageError(fs.Name(), "standard input is a terminal: give a FILE, or pipe the JSON in")
		}
		in = c.stdin
	} else {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	raw, err := io.ReadAll(io.LimitReader(in, maxBatchFile+1))
	if err != nil {
		return err
	}
	if len(raw) > maxBatchFile {
		return fmt.Errorf("%s: larger than %d MiB", pos[0], maxBatchFile>>20)
	}
	reqs, err := parseBatch(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	api, err := c.newClient(fs, co, true)
	if err != nil {
		return err
	}
	results, err := api.CreateTokens(ctx, reqs)
	if err != nil {
		return err
	}
	if err := c.printJSON(results); err != nil {
		return err
	}
	refused := map[string]int{}
	n := 0
	for _, r := range results {
		if r.Err() != nil {
			refused[r.Code]++
			n++
		}
	}
	if n > 0 {
		var codes []string
		for code, k := range refused {
			codes = append(codes, fmt.Sprintf("%d %s", k, code))
		}
		slices.Sort(codes)
		return fmt.Errorf("%d of %d tokens not minted (%s)", n, len(results), strings.Join(codes, ", "))
	}
	return nil
}

// parseBatch reads a JSON array of token descriptions, or {"tokens": [...]}. It decodes
// strictly (package strictjson): a misspelt "max_hit", a "Max_Hits" or a field given twice
// would mint a token with more hits than intended.
func parseBatch(raw []byte) ([]client.CreateRequest, error) {
	var items []strictjson.Value
	if err := strictjson.Unmarshal(raw, &items); err != nil {
		if p := strictjson.Problem(err); strings.HasPrefix(p, "[") { // inside an item: "[3].max_hits: …"
			i, rest, _ := strings.Cut(p[1:], "]")
			return nil, fmt.Errorf("item %s: %s", i, strings.TrimPrefix(rest, "."))
		}
		var wrapped struct {
			Tokens []strictjson.Value `json:"tokens"`
		}
		if strictjson.Unmarshal(raw, &wrapped) != nil || wrapped.Tokens == nil {
			return nil, errors.New(`want a JSON array of token descriptions, or {"tokens": [...]}`)
		}
		items = wrapped.Tokens
	}
	if len(items) == 0 {
		return nil, errors.New("no token descriptions")
	}
	reqs := make([]client.CreateRequest, len(items))
	for i, item := range items {
		if err := strictjson.Unmarshal(item, &reqs[i]); err != nil {
			return nil, fmt.Errorf("item %d: %s", i, strictjson.Problem(err))
		}
	}
	return reqs, nil
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

// repeated is a string flag that may be given several times.
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error {
	*r = append(*r, s)
	return nil
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

// Interface checks: optional and repeated are flag.Values.
var (
	_ flag.Value = (*optional)(nil)
	_ flag.Value = (*repeated)(nil)
)
