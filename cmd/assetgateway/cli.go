package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/assetgateway/assetgateway/client"
)

// Exit statuses of the subcommands.
const (
	exitOK    = 0
	exitError = 1 // the gateway refused, or a transfer or file operation failed
	exitUsage = 2 // the command line is wrong
)

// Environment variables the subcommands read.
const (
	envGateway = "ASSETGATEWAY_URL"
	envControl = "ASSETGATEWAY_CONTROL_TOKEN"

	defaultGateway = "http://127.0.0.1:8080"
)

const usageMain = `Usage: assetgateway <command> [flags] [arguments]

Commands for the control API (they need a control token):
  token create        mint a token
  token create-batch  mint many tokens from a JSON file, in one call
  token get           show a token's record
  token status        show a token's record and whether its object exists
  token delete        revoke a token
  callbacks failed    list the webhooks that were given up
  callbacks retry     send a failed webhook again

Commands for object URLs (the token in the URL is the only credential):
  upload            upload a file through a PUT token's URL
  download          download an object through a GET token's URL
  list              list the objects under a LIST token's prefix
  delete            delete the object of a DELETE token's URL

  help [command]    show the help of a command ("assetgateway <command> -h" too)

Flags every command accepts:
  --gateway URL          the gateway (default $ASSETGATEWAY_URL, else http://127.0.0.1:8080)
  --control-token TOKEN  a control token (default $ASSETGATEWAY_CONTROL_TOKEN). Prefer the
                         variable: command-line arguments are visible to every user in ps.
  --quiet                no progress bar, no warnings

Token and callback commands print JSON. Exit status: 0 success, 1 the gateway refused
(the error code and message are printed) or a transfer failed, 2 usage error.

To run the gateway itself: assetgateway -config FILE
`

// cli runs subcommands with explicit streams and environment, so tests can run it in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// isTerminal reports whether a stream is an interactive terminal (progress bars on
	// stderr; refusing to read an upload from a terminal).
	isTerminal func(any) bool
	now        func() time.Time
}

// runCLI runs a subcommand (assetgateway <command> ...) and returns the exit status.
// SIGINT and SIGTERM cancel a transfer cleanly (no partial file is left behind).
func runCLI(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{
		stdin:      os.Stdin,
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		getenv:     os.Getenv,
		isTerminal: isTerminal,
		now:        time.Now,
	}
	return c.run(ctx, args)
}

// isTerminal reports whether f is an *os.File on a character device (a terminal).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok || file == nil {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// run dispatches args[0].
func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usageMain)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return c.help(args[1:])
	case "token":
		return c.token(ctx, args[1:])
	case "callbacks":
		return c.callbacks(ctx, args[1:])
	case "upload":
		return c.upload(ctx, args[1:])
	case "download":
		return c.download(ctx, args[1:])
	case "list":
		return c.status("list", c.list(ctx, args[1:]))
	case "delete":
		return c.status("delete", c.deleteObject(ctx, args[1:]))
	}
	fmt.Fprintf(c.stderr, "assetgateway: unknown command %q (run the server with: assetgateway -config FILE; see: assetgateway help)\n", args[0])
	return exitUsage
}

// help prints the usage of a command on stdout.
func (c *cli) help(args []string) int {
	text, ok := usageMain, true
	if len(args) > 0 {
		text, ok = usages[strings.Join(args, " ")]
	}
	if !ok {
		fmt.Fprintf(c.stderr, "assetgateway: no help for %q\n", strings.Join(args, " "))
		return exitUsage
	}
	fmt.Fprint(c.stdout, text)
	return exitOK
}

// usages are the help texts of the commands, by name.
var usages = map[string]string{
	"token":              usageToken,
	"token create":       usageTokenCreate,
	"token create-batch": usageTokenCreateBatch,
	"token get":          usageTokenGet,
	"token status":       usageTokenStatus,
	"token delete":       usageTokenDelete,
	"callbacks":          usageCallbacks,
	"callbacks failed":   usageCallbacksFailed,
	"callbacks retry":    usageCallbacksRetry,
	"upload":             usageUpload,
	"download":           usageDownload,
	"list":               usageList,
	"delete":             usageDelete,
}

// common are the flags every command takes.
type common struct {
	gateway string
	control string
	quiet   bool
}

// flags returns a flag set for a command, with the common flags registered. Its usage text
// is printed by parse.
func (c *cli) flags(name string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors itself
	co := &common{}
	gw := c.getenv(envGateway)
	if gw == "" {
		gw = defaultGateway
	}
	fs.StringVar(&co.gateway, "gateway", gw, "")
	fs.StringVar(&co.control, "control-token", c.getenv(envControl), "")
	fs.BoolVar(&co.quiet, "quiet", false, "")
	return fs, co
}

// errHelp is returned by parse when -h was asked for and the usage was printed.
var errHelp = errors.New("help shown")

// parse parses flags placed anywhere among the arguments (flags after "--" are arguments)
// and checks the number of positional arguments. On -h it prints the usage on stdout and
// returns errHelp; on a mistake it prints the problem and a pointer to the help on stderr.
func (c *cli) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var rest []string
	if i := indexOf(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(c.stdout, usages[fs.Name()])
				return nil, errHelp
			}
			// A generated token begins with "-" once in 64: such an argument that is no flag
			// is the argument it looks like. The flag package dropped it from the rest.
			if rest := fs.Args(); len(rest) < len(args) && tokenLike(args[len(args)-len(rest)-1]) {
				pos = append(pos, args[len(args)-len(rest)-1])
				args = rest
				continue
			}
			return nil, c.usageError(fs.Name(), "%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	pos = append(pos, rest...)
	switch {
	case len(pos) < minArgs:
		return nil, c.usageError(fs.Name(), "missing argument")
	case len(pos) > maxArgs:
		return nil, c.usageError(fs.Name(), "unexpected argument %q", pos[maxArgs])
	}
	return pos, nil
}

// tokenLike reports whether an argument that failed as a flag is rather a token (16–128
// characters of A-Z a-z 0-9 _ -), or TOKEN/KEY below a prefix token, that happens to begin
// with "-" (one generated token in 64 does). Undefined flags are short, lower-case words; a
// mistyped one of 16 or more such characters is then refused as an unexpected argument.
func tokenLike(arg string) bool {
	tok, _, _ := strings.Cut(arg, "/")
	if len(tok) < 16 || len(tok) > 128 || !strings.HasPrefix(tok, "-") {
		return false
	}
	for _, r := range tok {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func indexOf(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}

// usageFailure is a command-line mistake, already reported.
type usageFailure struct{}

func (usageFailure) Error() string { return "usage" }

// usageError reports a command-line mistake and returns a usageFailure.
func (c *cli) usageError(cmd, format string, args ...any) error {
	fmt.Fprintf(c.stderr, "assetgateway %s: %s\n", cmd, fmt.Sprintf(format, args...))
	fmt.Fprintf(c.stderr, "Run 'assetgateway help %s' for usage.\n", cmd)
	return usageFailure{}
}

// status turns a command's error into its exit status, printing it unless it was a usage
// mistake (already printed) or -h.
func (c *cli) status(cmd string, err error) int {
	var uf usageFailure
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &uf):
		return exitUsage
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "assetgateway") {
		msg = "assetgateway " + cmd + ": " + msg
	}
	fmt.Fprintln(c.stderr, msg)
	return exitError
}

// newClient builds the API client for a command's common flags. Control commands need the
// control token; object commands send none.
func (c *cli) newClient(fs *flag.FlagSet, co *common, needControl bool) (*client.Client, error) {
	if !needControl {
		co.control = ""
	} else {
		if co.control == "" {
			return nil, c.usageError(fs.Name(), "no control token: set %s (or pass --control-token)", envControl)
		}
		if flagSet(fs, "control-token") && !co.quiet {
			fmt.Fprintf(c.stderr, "assetgateway: warning: --control-token is visible to other users (ps, shell history); prefer %s\n", envControl)
		}
	}
	return client.New(co.gateway, co.control, client.WithUserAgent("assetgateway-cli/1")), nil
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// printJSON writes v to stdout as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
