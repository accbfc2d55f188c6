package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

const usageUpload = `Usage: assetgateway upload [flags] OBJECT-URL [FILE|-]

Uploads FILE (or standard input, with - or no FILE) through a PUT token's URL and prints the
answer, {"etag": "...", "size": N}, as JSON. OBJECT-URL is the "url" of 'token create', a
path (/object/TOKEN) or a bare token, resolved against --gateway. A file, or redirected
input, is sent with its length (the gateway refuses one over the token's size before a byte
is sent); a pipe streams chunked. A failed upload leaves no object and does not use up the
token. Through a token with redirect delivery, a file (sent with its length) goes straight to
the bucket's presigned URL the gateway redirects to; a pipe streams through the gateway.

  --content-type TYPE   media type stored with the object
                        (default: from FILE's extension, else application/octet-stream)
  --quiet               no progress bar (there is none anyway when stderr is not a terminal)
  --gateway             see 'assetgateway help'
`

const usageDownload = `Usage: assetgateway download [flags] OBJECT-URL [FILE|DIRECTORY|-]

Downloads the object of a GET token's URL (one hit) into FILE, into standard output with -,
or, with no FILE or a DIRECTORY, under the name the token offers (Content-Disposition) or else
the URL's last segment, made safe (no path separators, no leading dots, no control
characters). An object under a prefix token is OBJECT-URL/KEY (or TOKEN/KEY). Through a token
with redirect delivery the object comes from the bucket's presigned URL the gateway
redirects to. The path written is printed on standard output. The download goes to a
temporary file in the same directory, renamed into place when complete: an interrupted
download leaves nothing behind. An existing file is never overwritten without --force: a
FILE given by name is refused before the download starts; a name chosen from the download
gets " (1)", " (2)", ... appended instead.

  --range RANGE   only these bytes: 0-99, 100- (from offset 100), -500 (the last 500)
  --force         overwrite an existing file
  --quiet         no progress bar (there is none anyway when stderr is not a terminal)
  --gateway       see 'assetgateway help'
`

// objectRef turns an OBJECT-URL argument into what the client resolves: absolute URLs and
// paths as they are, a bare token as /object/TOKEN, and TOKEN/KEY (an object under a prefix
// token) as /object/TOKEN/KEY with each segment escaped.
func objectRef(arg string) string {
	if strings.Contains(arg, "://") || strings.HasPrefix(arg, "/") {
		return arg
	}
	segs := strings.Split(arg, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return "/object/" + strings.Join(segs, "/")
}

// upload runs "upload OBJECT-URL [FILE|-]".
func (c *cli) upload(ctx context.Context, args []string) int {
	set, co := c.flags("upload")
	contentType := set.String("content-type", "", "")
	pos, err := c.parse(set, args, 1, 2)
	if err != nil {
		return c.status("upload", err)
	}
	src := "-"
	if len(pos) == 2 {
		src = pos[1]
	}
	var (
		in   io.Reader
		size int64 = -1
	)
	if src == "-" {
		if c.isTerminal(c.stdin) {
			return c.status("upload", c.usageError("upload", "standard input is a terminal: give a FILE, or pipe the data in"))
		}
		in = c.stdin
		if f, ok := c.stdin.(*os.File); ok {
			size = regularSize(f)
		}
	} else {
		f, err := os.Open(src)
		if err != nil {
			return c.status("upload", err)
		}
		defer f.Close()
		if size = regularSize(f); size < 0 {
			if fi, err := f.Stat(); err == nil && fi.IsDir() {
				return c.status("upload", fmt.Errorf("%s is a directory", src))
			}
		}
		in = f
		if *contentType == "" {
			*contentType = mime.TypeByExtension(strings.ToLower(filepath.Ext(src)))
		}
	}
	api, err := c.newClient(set, co, false)
	if err != nil {
		return c.status("upload", err)
	}
	bar := c.progress(co, "upload", size)
	up, err := api.Upload(ctx, objectRef(pos[0]), &countingReader{r: in, p: bar}, size, *contentType)
	bar.finish(err == nil)
	if err != nil {
		return c.status("upload", err)
	}
	return c.status("upload", c.printJSON(up))
}

// regularSize returns the bytes left to read in f when it is a regular file, else -1.
func regularSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off > fi.Size() {
		return -1
	}
	return fi.Size() - off
}

// download runs "download OBJECT-URL [FILE|DIRECTORY|-]".
func (c *cli) download(ctx context.Context, args []string) int {
	set, co := c.flags("download")
	force := set.Bool("force", false, "")
	rng := set.String("range", "", "")
	pos, err := c.parse(set, args, 1, 2)
	if err != nil {
		return c.status("download", err)
	}
	dest, dir := "", "."
	if len(pos) == 2 {
		dest = pos[1]
	}
	if dest != "" && dest != "-" {
		fi, err := os.Stat(dest)
		switch {
		case err == nil && fi.IsDir():
			dir, dest = dest, ""
		case err == nil && !*force:
			return c.status("download", fmt.Errorf("refusing to overwrite %s (use --force)", dest))
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return c.status("download", err)
		}
	}
	api, err := c.newClient(set, co, false)
	if err != nil {
		return c.status("download", err)
	}
	// The temporary file is created before the request, so a directory that cannot be
	// written to costs no hit.
	var tmp *os.File
	if dest != "-" {
		if dest != "" {
			dir = filepath.Dir(dest)
		}
		if tmp, err = createTemp(dir); err != nil {
			return c.status("download", err)
		}
		defer os.Remove(tmp.Name()) // a no-op once it is renamed into place
		defer tmp.Close()
	}
	ref := objectRef(pos[0])
	obj, err := api.Open(ctx, ref, *rng)
	if err != nil {
		return c.status("download", err)
	}
	defer obj.Body.Close()
	bar := c.progress(co, "download", obj.Length)

	if dest == "-" {
		_, err := io.Copy(&countingWriter{w: c.stdout, p: bar}, obj.Body)
		bar.finish(err == nil)
		return c.status("download", err)
	}
	explicit := dest != ""
	if !explicit {
		dest = filepath.Join(dir, downloadName(obj.Filename, ref))
	}
	_, err = io.Copy(&countingWriter{w: tmp, p: bar}, obj.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	bar.finish(err == nil)
	if err != nil {
		return c.status("download", err)
	}
	saved, err := place(tmp.Name(), dest, *force, explicit)
	if err != nil {
		return c.status("download", err)
	}
	fmt.Fprintln(c.stdout, saved)
	return exitOK
}

// downloadName picks a file name for a download: the token's filename, else the URL's last
// path segment, made safe; "download" when nothing usable is left.
func downloadName(offered, ref string) string {
	if name := safeName(offered); name != "" {
		return name
	}
	if u, err := url.Parse(ref); err == nil && strings.Trim(u.Path, "/") != "" {
		if name := safeName(path.Base(u.Path)); name != "" {
			return name
		}
	}
	return "download"
}

// safeName makes a name from the network usable as one file name in the current directory:
// path separators, control and format characters (bidirectional overrides) and characters
// some file systems refuse become '_'; leading dots (hidden files, "..") and surrounding
// spaces are removed; the result is at most 255 bytes, cut at a character boundary.
func safeName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Cf, r),
			strings.ContainsRune(`/\:*?"<>|`, r):
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	name = strings.TrimSpace(name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// createTemp creates a hidden temporary file in the directory the download will land in,
// with the default permissions (0666 less the umask), so renaming it gives an ordinary file.
func createTemp(dir string) (*os.File, error) {
	for range 100 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		name := filepath.Join(dir, ".assetgateway-"+hex.EncodeToString(b[:])+".part")
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, errors.New("cannot create a temporary file in " + dir)
}

// place moves the finished download tmp to dest and returns the path written. Without force
// it never replaces a file: the name is claimed with O_EXCL first, and when it is taken the
// data goes to "name (1).ext", "name (2).ext", ... instead. A name the user gave that was
// taken during the download is an error that says where the data went.
func place(tmp, dest string, force, explicit bool) (string, error) {
	if force {
		return dest, os.Rename(tmp, dest)
	}
	ext := filepath.Ext(dest)
	stem := strings.TrimSuffix(dest, ext)
	for i := range 100 {
		name := dest
		if i > 0 {
			name = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		f.Close()
		if err := os.Rename(tmp, name); err != nil {
			os.Remove(name)
			return "", err
		}
		if explicit && name != dest {
			return name, fmt.Errorf("refusing to overwrite %s, which appeared during the download (use --force); the data is in %s", dest, name)
		}
		return name, nil
	}
	return "", fmt.Errorf("%s and 99 numbered variants exist; give a FILE", dest)
}

// progress returns the transfer's progress bar: drawn on stderr when it is a terminal and
// --quiet is not set, else a no-op.
func (c *cli) progress(co *common, label string, total int64) *progressBar {
	p := &progressBar{label: label, total: total, now: c.now}
	if !co.quiet && c.isTerminal(c.stderr) {
		p.w = c.stderr
	}
	p.start = p.now()
	return p
}

// progressBar draws "label  3.1 MiB / 10.0 MiB  31% [######..............]  1.2 MiB/s" on
// one terminal line, at most every 100ms; total -1 leaves out the percentage and the bar.
type progressBar struct {
	w     io.Writer // nil: draw nothing
	label string
	total int64
	now   func() time.Time

	mu    sync.Mutex // the transport may read an upload body from another goroutine
	n     int64
	start time.Time
	drawn time.Time
	width int // of the last line drawn, to blank its rest
}

// progressEvery is the shortest time between two redraws.
const progressEvery = 100 * time.Millisecond

func (p *progressBar) add(n int) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += int64(n)
	if t := p.now(); t.Sub(p.drawn) >= progressEvery {
		p.draw(t)
	}
}

// finish draws the final state and ends the line.
func (p *progressBar) finish(ok bool) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok && p.total >= 0 {
		p.n = p.total
	}
	p.draw(p.now())
	fmt.Fprintln(p.w)
}

// draw writes the line; the caller holds mu.
func (p *progressBar) draw(t time.Time) {
	p.drawn = t
	line := p.label + "  " + formatBytes(p.n)
	if p.total >= 0 {
		pct := 100
		if p.total > 0 {
			pct = int(min(p.n, p.total) * 100 / p.total)
		}
		const barWidth = 20
		fill := pct * barWidth / 100
		line += fmt.Sprintf(" / %s  %3d%% [%s%s]", formatBytes(p.total), pct,
			strings.Repeat("#", fill), strings.Repeat(".", barWidth-fill))
	}
	if secs := t.Sub(p.start).Seconds(); secs > 0 {
		line += "  " + formatBytes(int64(float64(p.n)/secs)) + "/s"
	}
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// formatBytes writes n with a binary unit and one decimal ("3.1 MiB"), or in bytes below 1 KiB.
func formatBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// countingReader reports the bytes read to a progress bar.
type countingReader struct {
	r io.Reader
	p *progressBar
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(n)
	return n, err
}

// errNotSeekable is countingReader's Seek over a reader that cannot seek.
var errNotSeekable = errors.New("not seekable")

// Seek seeks the underlying reader, when it can (a file, not a pipe), and moves the progress
// bar with it: the client rewinds an upload body that a redirect makes it send again.
func (c *countingReader) Seek(offset int64, whence int) (int64, error) {
	s, ok := c.r.(io.Seeker)
	if !ok {
		return 0, errNotSeekable
	}
	before, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	after, err := s.Seek(offset, whence)
	if err == nil {
		c.p.add(int(after - before))
	}
	return after, err
}

// countingWriter reports the bytes written to a progress bar.
type countingWriter struct {
	w io.Writer
	p *progressBar
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.add(n)
	return n, err
}
