package objstore

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/assetgateway/assetgateway/internal/byterange"
)

// ErrInvalidKey means a key cannot name a file under a File backend's root.
var ErrInvalidKey = errors.New("invalid object key")

// File backend layout under the root. Keys may never name anything inside metaRoot.
const (
	metaRoot = ".assetgateway"
	metaDir  = metaRoot + "/meta" // one JSON sidecar per object: <hex sha256(key)>.json
	tmpDir   = metaRoot + "/tmp"  // uploads in progress

	// maxKeySegment is the longest path segment most file systems accept (NAME_MAX).
	maxKeySegment = 255
	// staleTmpAge is how old a leftover temporary file must be for NewFile to remove it:
	// anything younger may belong to an upload in progress in another process.
	staleTmpAge = 24 * time.Hour
	// maxSidecar caps how much of a sidecar file is read.
	maxSidecar = 64 << 10
)

// ValidFileKey reports whether key can name an object of a File backend: a relative
// slash-separated path whose segments are neither empty, ".", ".." nor longer than 255 bytes,
// with no backslash or NUL, not ending in "/", and outside the reserved ".assetgateway/"
// folder. The error wraps ErrInvalidKey.
func ValidFileKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case strings.HasPrefix(key, "/"):
		return bad("absolute path")
	case strings.HasSuffix(key, "/"):
		return bad("ends with /")
	case strings.ContainsRune(key, '\\'):
		return bad("contains a backslash")
	case strings.ContainsRune(key, 0):
		return bad("contains NUL")
	}
	for i, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("empty path segment")
		case seg == "." || seg == "..":
			return bad(`"." or ".." path segment`)
		case len(seg) > maxKeySegment:
			return bad(fmt.Sprintf("path segment longer than %d bytes", maxKeySegment))
		case i == 0 && seg == metaRoot:
			return bad("reserved " + metaRoot + "/ folder")
		}
	}
	return nil
}

// File is a Backend on a local directory, which behaves like a bucket: a key names the file
// at that slash-separated path below the root; the uploaded Content-Type is kept; the ETag is
// the MD5 hex of the content (as S3's single-part ETag); an upload becomes visible at once and
// entirely (it is written aside and renamed into place), so readers see the old or the new
// content, never a mix; no key, and no symbolic link, reaches outside the root (os.Root).
//
// Files put into the directory by other means are served too. Metadata lives in a sidecar,
// <root>/.assetgateway/meta/<hex sha256(key)>.json (content type, ETag, size, mtime); when it
// is missing or no longer matches the file's size and mtime, the ETag is computed by reading
// the file and the Content-Type is taken from the extension (mime.TypeByExtension, else
// application/octet-stream), and the sidecar is rewritten.
//
// Unlike a bucket, a directory cannot hold both "a" and "a/b": such a Put fails. Uploads in
// progress live in <root>/.assetgateway/tmp (on the same file system, so the final rename is
// atomic), multipart uploads in <root>/.assetgateway/mpu (file_multipart.go). It is safe for
// concurrent use, also by several processes sharing the directory.
type File struct {
	root *os.Root
	dir  string // the root's absolute path, for Check and messages
}

// NewFile opens (creating it if needed) the directory root as a File backend.
func NewFile(root string) (*File, error) {
	dir, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("file backend root %q: %w", root, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file backend root: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("file backend root: %w", err)
	}
	for _, d := range []string{metaDir, tmpDir} {
		if err := r.MkdirAll(filepath.FromSlash(d), 0o755); err != nil {
			r.Close()
			return nil, fmt.Errorf("file backend root %s: %w", dir, err)
		}
	}
	f := &File{root: r, dir: dir}
	f.removeStaleTmp()
	f.removeStaleUploads()
	return f, nil
}

// CheckKey reports whether the directory can hold key (it accepts fewer keys than S3: no
// "..", no empty segments, no reserved metadata folder). The control API calls it at mint time.
func (f *File) CheckKey(key string) error { return ValidFileKey(key) }

// removeStaleTmp removes temporary files left behind by a crash, best effort.
func (f *File) removeStaleTmp() {
	d, err := f.root.Open(filepath.FromSlash(tmpDir))
	if err != nil {
		return
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && time.Since(info.ModTime()) > staleTmpAge {
			_ = f.root.Remove(filepath.FromSlash(tmpDir + "/" + e.Name()))
		}
	}
}

// Close releases the root directory. The backend must not be used afterwards.
func (f *File) Close() error { return f.root.Close() }

// Check reports whether the root is still the directory NewFile opened and is writable.
func (f *File) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now, err := os.Stat(f.dir)
	if err != nil {
		return fmt.Errorf("file backend root: %w", err)
	}
	opened, err := f.root.Stat(".")
	if err != nil {
		return fmt.Errorf("file backend root %s: %w", f.dir, err)
	}
	if !os.SameFile(now, opened) {
		return fmt.Errorf("file backend root %s was replaced since start-up", f.dir)
	}
	probe, name, err := f.createTmp()
	if err != nil {
		return fmt.Errorf("file backend root %s is not writable: %w", f.dir, err)
	}
	probe.Close()
	if err := f.root.Remove(name); err != nil {
		return fmt.Errorf("file backend root %s: %w", f.dir, err)
	}
	return nil
}

// fileMeta is the sidecar of one object.
type fileMeta struct {
	Key         string `json:"key"`
	ContentType string `json:"content_type"`
	ETag        string `json:"etag"`
	Size        int64  `json:"size"`
	// MTimeNS is the data file's modification time (Unix nanoseconds) the sidecar describes.
	MTimeNS int64 `json:"mtime_ns"`
	// Metadata is the user metadata the upload carried.
	Metadata map[string]string `json:"metadata,omitempty"`
}

func sidecarName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.FromSlash(metaDir + "/" + hex.EncodeToString(sum[:]) + ".json")
}

// Get implements Backend. Body implements io.WriterTo so that copying it to a net/http
// response lets the kernel send the file (sendfile) with no copy through user space.
func (f *File) Get(ctx context.Context, key string, o GetOptions) (*Object, error) {
	file, info, err := f.open(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := o.Evaluate(info); err != nil {
		file.Close()
		return nil, fmt.Errorf("file get %q: %w", key, err)
	}
	obj := &Object{ObjectInfo: info, Length: info.Size}
	if rng := byterange.Valid(o.Range); rng != nil {
		start, n, ok := rng.Resolve(info.Size)
		if !ok {
			file.Close()
			return nil, fmt.Errorf("file get %q: %w", key, &RangeError{Size: info.Size})
		}
		obj.Start, obj.Length, obj.Partial = start, n, true
	}
	if obj.Start > 0 {
		if _, err := file.Seek(obj.Start, io.SeekStart); err != nil {
			file.Close()
			return nil, fmt.Errorf("file get %q: %w", key, err)
		}
	}
	obj.Body = &fileBody{f: file, lr: io.LimitedReader{R: file, N: obj.Length}}
	return obj, nil
}

// Head implements Backend.
func (f *File) Head(ctx context.Context, key string, c Conditions) (ObjectInfo, error) {
	file, info, err := f.open(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	file.Close()
	if err := c.Evaluate(info); err != nil {
		return ObjectInfo{}, fmt.Errorf("file head %q: %w", key, err)
	}
	return info, nil
}

// open opens key's file and returns it with its metadata, which describes exactly the
// content of the open file (later renames over key do not change what it reads).
func (f *File) open(ctx context.Context, key string) (*os.File, ObjectInfo, error) {
	if err := ValidFileKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	file, err := f.root.Open(filepath.FromSlash(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, ObjectInfo{}, fmt.Errorf("file open %q: %w", key, ErrObjectNotFound)
		}
		// Among others: a symbolic link that leads out of the root.
		return nil, ObjectInfo{}, fmt.Errorf("file open %q: %w", key, err)
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, ObjectInfo{}, fmt.Errorf("file stat %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		file.Close()
		return nil, ObjectInfo{}, fmt.Errorf("file open %q: not a regular file: %w", key, ErrObjectNotFound)
	}
	info, err := f.metadata(ctx, key, file, fi)
	if err != nil {
		file.Close()
		return nil, ObjectInfo{}, fmt.Errorf("file metadata %q: %w", key, err)
	}
	return file, info, nil
}

// metadata returns the object's metadata from its sidecar when the sidecar matches the open
// file, else computes it from the file itself and rewrites the sidecar (best effort).
func (f *File) metadata(ctx context.Context, key string, file *os.File, fi fs.FileInfo) (ObjectInfo, error) {
	info := ObjectInfo{Size: fi.Size(), LastModified: fi.ModTime()}
	if m, ok := f.readSidecar(key); ok && m.Size == fi.Size() && m.MTimeNS == fi.ModTime().UnixNano() {
		info.ContentType, info.ETag = m.ContentType, m.ETag
		return info, nil
	}
	h := md5.New()
	bp := fileBufs.get()
	defer fileBufs.put(bp)
	src := io.NewSectionReader(file, 0, fi.Size())
	n, err := io.CopyBuffer(h, &ctxReader{ctx: ctx, r: src}, *bp)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("compute ETag: %w", err)
	}
	if n != fi.Size() {
		return ObjectInfo{}, fmt.Errorf("compute ETag: read %d of %d bytes", n, fi.Size())
	}
	info.ETag = hex.EncodeToString(h.Sum(nil))
	info.ContentType = mime.TypeByExtension(path.Ext(key))
	if info.ContentType == "" {
		info.ContentType = defaultContentType
	}
	_ = f.writeSidecar(fileMeta{Key: key, ContentType: info.ContentType, ETag: info.ETag, Size: info.Size, MTimeNS: fi.ModTime().UnixNano()})
	return info, nil
}

func (f *File) readSidecar(key string) (fileMeta, bool) {
	sc, err := f.root.Open(sidecarName(key))
	if err != nil {
		return fileMeta{}, false
	}
	defer sc.Close()
	var m fileMeta
	if err := json.NewDecoder(io.LimitReader(sc, maxSidecar)).Decode(&m); err != nil || m.Key != key {
		return fileMeta{}, false
	}
	return m, true
}

// writeSidecar replaces key's sidecar atomically (temporary file + rename).
func (f *File) writeSidecar(m fileMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp, name, err := f.createTmp()
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.root.Rename(name, sidecarName(m.Key))
	}
	if err != nil {
		_ = f.root.Remove(name)
	}
	return err
}

// createTmp creates a new, uniquely named file in the temporary folder and returns it with
// its name relative to the root.
func (f *File) createTmp() (*os.File, string, error) {
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, "", err
	}
	name := filepath.FromSlash(tmpDir + "/" + hex.EncodeToString(rnd[:]))
	tmp, err := f.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) { // the folder was removed by hand: make it again
		if err = f.root.MkdirAll(filepath.FromSlash(tmpDir), 0o755); err == nil {
			tmp, err = f.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		}
	}
	if err != nil {
		return nil, "", err
	}
	return tmp, name, nil
}

// Delete implements Backend: the file and its sidecar go; a missing key is not an error.
func (f *File) Delete(ctx context.Context, key string) error {
	if err := ValidFileKey(key); err != nil {
		return err
	}
	err := f.root.Remove(filepath.FromSlash(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("file delete %q: %w", key, err)
	}
	if err := f.root.Remove(sidecarName(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file delete %q: sidecar: %w", key, err)
	}
	return nil
}

// Put implements Backend. The body is written to a temporary file while its MD5 is computed,
// synced, described by a new sidecar and renamed over key (parent folders are created). On
// any failure the temporary file is removed and the object stored under key is untouched.
func (f *File) Put(ctx context.Context, in PutInput) (PutResult, error) {
	if in.Size < -1 {
		return PutResult{}, fmt.Errorf("file put %q: invalid size %d", in.Key, in.Size)
	}
	if err := ValidFileKey(in.Key); err != nil {
		return PutResult{}, err
	}
	ct := in.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	in.ContentType = ct
	body := newUploadBody(ctx, in)
	res, err := f.put(in, body)
	if err != nil {
		return PutResult{}, putError(body, fmt.Errorf("file put %q: %w", in.Key, err))
	}
	return res, nil
}

// put writes the temporary file, checks it against in.SHA256, and makes it visible: by
// rename, or — with in.IfNoneMatch — by a hard link that fails if the key already exists, so
// the check and the write are one atomic step.
func (f *File) put(in PutInput, body *uploadBody) (PutResult, error) {
	key := in.Key
	tmp, name, err := f.createTmp()
	if err != nil {
		return PutResult{}, err
	}
	renamed := false
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		if !renamed {
			_ = f.root.Remove(name)
		}
	}()

	h := md5.New()
	bp := fileBufs.get()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), body, *bp)
	fileBufs.put(bp)
	if err != nil {
		return PutResult{}, err
	}
	if err := body.checkSum(in.SHA256); err != nil {
		return PutResult{}, err
	}
	if err := tmp.Sync(); err != nil {
		return PutResult{}, err
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return PutResult{}, err
	}
	// The mtime the file system recorded (after the last write and sync) is what the sidecar
	// is checked against; rename does not change it.
	fi, err := f.root.Lstat(name)
	if err != nil {
		return PutResult{}, err
	}
	m := fileMeta{Key: key, ContentType: in.ContentType, ETag: hex.EncodeToString(h.Sum(nil)), Size: n,
		MTimeNS: fi.ModTime().UnixNano(), Metadata: in.Metadata}
	target := filepath.FromSlash(key)
	if dir := path.Dir(key); dir != "." {
		if err := f.root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
			return PutResult{}, err
		}
	}
	if in.IfNoneMatch {
		if err := f.root.Link(name, target); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return PutResult{}, fmt.Errorf("%w: an object already exists", ErrPreconditionFailed)
			}
			return PutResult{}, err
		}
		// Visible now; the temporary name goes with the deferred removal. A sidecar that
		// fails to land only costs a recomputation on the first read.
		_ = f.writeSidecar(m)
		f.syncDir(path.Dir(key))
		return PutResult{ETag: m.ETag, Size: n}, nil
	}
	if err := f.writeSidecar(m); err != nil {
		return PutResult{}, fmt.Errorf("write metadata: %w", err)
	}
	if err := f.root.Rename(name, target); err != nil {
		// The sidecar now describes content that never arrived; it no longer matches the file
		// (if any) under key, so it would be recomputed anyway. Drop it.
		_ = f.root.Remove(sidecarName(key))
		return PutResult{}, err
	}
	renamed = true
	f.syncDir(path.Dir(key))
	return PutResult{ETag: m.ETag, Size: n}, nil
}

// syncDir makes a rename in dir durable, best effort.
func (f *File) syncDir(dir string) {
	d, err := f.root.Open(filepath.FromSlash(dir))
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// fileBody is an object body read from a local file: exactly lr.N bytes from the file's
// current offset.
type fileBody struct {
	f  *os.File
	lr io.LimitedReader // R is f
}

// Read reads the body. A file that shrank under it ends with io.ErrUnexpectedEOF, never with
// a short body passed off as complete.
func (b *fileBody) Read(p []byte) (int, error) {
	n, err := b.lr.Read(p)
	if err == io.EOF && b.lr.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// WriteTo copies the body to w (see ErrBodyCut for how its errors tell the sides apart).
// When w is a net/http response (or anything whose ReadFrom
// recognises an *io.LimitedReader over an *os.File, like *net.TCPConn) the kernel moves the
// bytes (sendfile/splice).
func (b *fileBody) WriteTo(w io.Writer) (int64, error) {
	var n int64
	var err error
	if rf, ok := w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(&b.lr)
	} else {
		bp := fileBufs.get()
		n, err = io.CopyBuffer(w, &b.lr, *bp)
		fileBufs.put(bp)
	}
	if err == nil && b.lr.N > 0 {
		// The file shrank under the download: the source's failure. (A failed
		// ReadFrom/CopyBuffer is the destination's: local reads do not fail midway.)
		err = fmt.Errorf("%w: %w", ErrBodyCut, io.ErrUnexpectedEOF)
	}
	return n, err
}

// Close closes the file.
func (b *fileBody) Close() error { return b.f.Close() }
