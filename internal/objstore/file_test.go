package objstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assetgateway/assetgateway/internal/byterange"
)

func TestValidFileKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"a/b/c.txt", true},
		{"日本語/ファイル 1+2%3F?#.txt", true},
		{"..a/b..", true},
		{".hidden", true},
		{".assetgateway-not-reserved/x", true},
		{"x/.assetgateway/y", true},
		{strings.Repeat("a", 255), true},
		{"", false},
		{"/etc/passwd", false},
		{"a/", false},
		{"a//b", false},
		{"./a", false},
		{"a/./b", false},
		{"..", false},
		{"../x", false},
		{"a/../../x", false},
		{"a/..", false},
		{`a\b`, false},
		{"a\x00b", false},
		{".assetgateway", false},
		{".assetgateway/meta/x.json", false},
		{".assetgateway/tmp/x", false},
		{strings.Repeat("a", 256), false},
	} {
		err := ValidFileKey(tc.key)
		if tc.ok && err != nil {
			t.Errorf("ValidFileKey(%q) = %v, want nil", tc.key, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidFileKey(%q) = %v, want ErrInvalidKey", tc.key, err)
		}
	}
}

// TestFileInvalidKeys checks that every method refuses keys that could leave the root or
// touch the metadata folder, before touching the disk.
func TestFileInvalidKeys(t *testing.T) {
	f := newTestFile(t)
	ctx := context.Background()
	for _, key := range []string{"../x", "a/../../x", "/etc/passwd", ".assetgateway/meta/x", ".assetgateway/tmp/x", ""} {
		if _, err := f.Put(ctx, PutInput{Key: key, Body: onlyReader([]byte("x")), Size: 1}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put %q = %v, want ErrInvalidKey", key, err)
		}
		if _, err := f.Get(ctx, key, GetOptions{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get %q = %v, want ErrInvalidKey", key, err)
		}
		if _, err := f.Head(ctx, key, Conditions{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Head %q = %v, want ErrInvalidKey", key, err)
		}
	}
}

// TestFileSymlinks checks that symbolic links are followed inside the root and refused when
// they lead out of it, for reads and for writes.
func TestFileSymlinks(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	writeFile(t, secret, "top secret")
	f := newTestFile(t)
	ctx := context.Background()
	putBytes(t, f, "inside/real.txt", []byte("fine"), "text/plain")
	for name, target := range map[string]string{
		"abs-out":  secret,
		"rel-out":  filepath.Join("..", filepath.Base(outside), "secret"),
		"dir-out":  outside,
		"in":       "inside/real.txt",
		"dir-in":   "inside",
		"dangling": "nowhere",
	} {
		if err := os.Symlink(target, filepath.Join(f.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"abs-out", "rel-out", "dir-out/secret"} {
		if obj, err := f.Get(ctx, key, GetOptions{}); err == nil {
			obj.Body.Close()
			t.Errorf("Get %q through a link out of the root succeeded", key)
		}
		if _, err := f.Head(ctx, key, Conditions{}); err == nil {
			t.Errorf("Head %q through a link out of the root succeeded", key)
		}
	}
	if _, err := f.Put(ctx, PutInput{Key: "dir-out/planted", Body: onlyReader([]byte("x")), Size: 1}); err == nil {
		t.Error("Put through a link out of the root succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was written outside the root: %v", err)
	}
	if got := readFile(t, secret); got != "top secret" {
		t.Errorf("the file outside the root changed: %q", got)
	}
	if got := getBytes(t, f, "in"); string(got) != "fine" {
		t.Errorf("Get through a link inside the root = %q, want fine", got)
	}
	if got := getBytes(t, f, "dir-in/real.txt"); string(got) != "fine" {
		t.Errorf("Get through a linked folder inside the root = %q, want fine", got)
	}
	if _, err := f.Head(ctx, "dangling", Conditions{}); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("Head of a dangling link = %v, want ErrObjectNotFound", err)
	}
}

func TestFileNotFiles(t *testing.T) {
	f := newTestFile(t)
	ctx := context.Background()
	putBytes(t, f, "dir/file", []byte("x"), "")
	for _, key := range []string{"dir", "dir/file/below", "nope/nope"} {
		if _, err := f.Head(ctx, key, Conditions{}); !errors.Is(err, ErrObjectNotFound) {
			t.Errorf("Head %q = %v, want ErrObjectNotFound", key, err)
		}
		if _, err := f.Get(ctx, key, GetOptions{}); !errors.Is(err, ErrObjectNotFound) {
			t.Errorf("Get %q = %v, want ErrObjectNotFound", key, err)
		}
	}
	// A directory cannot hold both "dir" and "dir/file": the Put fails, the folder stays.
	if _, err := f.Put(ctx, PutInput{Key: "dir", Body: onlyReader([]byte("x")), Size: 1}); err == nil {
		t.Error("Put over a folder succeeded")
	}
	if got := getBytes(t, f, "dir/file"); string(got) != "x" {
		t.Errorf("the folder's file changed: %q", got)
	}
	checkTmpEmpty(t, f)
}

// TestFileHandDropped checks that files put into the folder by other means are served, with
// the MD5 ETag computed and the Content-Type taken from the extension, and that the computed
// metadata is remembered in a sidecar.
func TestFileHandDropped(t *testing.T) {
	f := newTestFile(t)
	ctx := context.Background()
	page := "<!doctype html><title>hi</title>"
	writeFile(t, filepath.Join(f.dir, "site", "index.html"), page)
	writeFile(t, filepath.Join(f.dir, "blob"), "no extension")

	info, err := f.Head(ctx, "site/index.html", Conditions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != md5Hex([]byte(page)) || info.ContentType != "text/html; charset=utf-8" || info.Size != int64(len(page)) {
		t.Errorf("Head = %+v, want md5 ETag, text/html, size %d", info, len(page))
	}
	if _, err := os.Stat(filepath.Join(f.dir, sidecarName("site/index.html"))); err != nil {
		t.Errorf("no sidecar was written: %v", err)
	}
	obj, err := f.Get(ctx, "site/index.html", GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readObject(t, obj); string(got) != page || obj.ETag != info.ETag {
		t.Errorf("Get = %q with ETag %q", got, obj.ETag)
	}
	if info, err := f.Head(ctx, "blob", Conditions{}); err != nil || info.ContentType != "application/octet-stream" {
		t.Errorf("Head of a file without extension = %+v, %v; want application/octet-stream", info, err)
	}
}

// TestFileStaleSidecar checks that a file changed by hand after an upload is described anew.
func TestFileStaleSidecar(t *testing.T) {
	f := newTestFile(t)
	ctx := context.Background()
	putBytes(t, f, "data.json", []byte(`{"v":1}`), "application/x-custom")
	if info, _ := f.Head(ctx, "data.json", Conditions{}); info.ContentType != "application/x-custom" {
		t.Fatalf("uploaded Content-Type not kept: %q", info.ContentType)
	}
	for i, edit := range []func(path string){
		// Same size, different mtime.
		func(path string) {
			writeFile(t, path, `{"v":2}`)
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
		},
		// Different size, mtime put back to what the sidecar says.
		func(path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, `{"v":300}`)
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		},
	} {
		edit(filepath.Join(f.dir, "data.json"))
		want := readFile(t, filepath.Join(f.dir, "data.json"))
		info, err := f.Head(ctx, "data.json", Conditions{})
		if err != nil {
			t.Fatal(err)
		}
		if info.ETag != md5Hex([]byte(want)) || info.Size != int64(len(want)) || info.ContentType != "application/json" {
			t.Errorf("edit %d: Head = %+v, want ETag %s, size %d, application/json", i, info, md5Hex([]byte(want)), len(want))
		}
	}
	// A corrupt sidecar is recomputed too.
	writeFile(t, filepath.Join(f.dir, sidecarName("data.json")), "{not json")
	if info, err := f.Head(ctx, "data.json", Conditions{}); err != nil || info.ETag != md5Hex([]byte(`{"v":300}`)) {
		t.Errorf("with a corrupt sidecar Head = %+v, %v", info, err)
	}
}

// TestFileBodyWriterTo checks that Get's body can write itself — the path net/http turns into
// sendfile — for whole objects and ranges, and over a real HTTP connection.
func TestFileBodyWriterTo(t *testing.T) {
	f := newTestFile(t)
	ctx := context.Background()
	data := testData(3<<20+17, 30)
	putBytes(t, f, "big.bin", data, "")
	for _, tc := range []struct {
		name string
		rng  *byterange.Range
		want []byte
	}{
		{"whole", nil, data},
		{"middle", &byterange.Range{First: 1 << 20, Last: 2<<20 + 4}, data[1<<20 : 2<<20+5]},
		{"suffix", &byterange.Range{First: -1, Last: 100}, data[len(data)-100:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, dst := range []struct {
				name string
				w    func(*bytes.Buffer) io.Writer
			}{
				{"ReaderFrom", func(b *bytes.Buffer) io.Writer { return b }},
				{"plain Writer", func(b *bytes.Buffer) io.Writer { return struct{ io.Writer }{b} }},
			} {
				obj, err := f.Get(ctx, "big.bin", GetOptions{Range: tc.rng})
				if err != nil {
					t.Fatal(err)
				}
				wt, ok := obj.Body.(io.WriterTo)
				if !ok {
					t.Fatalf("Body %T does not implement io.WriterTo", obj.Body)
				}
				var buf bytes.Buffer
				n, err := wt.WriteTo(dst.w(&buf))
				obj.Body.Close()
				if err != nil || n != int64(len(tc.want)) || !bytes.Equal(buf.Bytes(), tc.want) {
					t.Errorf("%s: WriteTo = %d, %v; want %d bytes of the object", dst.name, n, err, len(tc.want))
				}
			}
		})
	}
	t.Run("over HTTP", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			obj, err := f.Get(r.Context(), "big.bin", GetOptions{Range: &byterange.Range{First: 5, Last: -1}})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer obj.Body.Close()
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = io.Copy(w, obj.Body)
		}))
		defer srv.Close()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, data[5:]) {
			t.Errorf("served %d bytes, %v; want %d", len(got), err, len(data)-5)
		}
	})
}

// TestFileBodyShrunk checks that a file truncated under an open body ends it with an error,
// never with a short body that looks complete.
func TestFileBodyShrunk(t *testing.T) {
	f := newTestFile(t)
	data := testData(1<<20, 31)
	writeFile(t, filepath.Join(f.dir, "shrinking"), string(data))
	for _, useWriteTo := range []bool{false, true} {
		obj, err := f.Get(context.Background(), "shrinking", GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filepath.Join(f.dir, "shrinking"), 1000); err != nil {
			t.Fatal(err)
		}
		if useWriteTo {
			_, err = obj.Body.(io.WriterTo).WriteTo(io.Discard)
		} else {
			_, err = io.ReadAll(obj.Body)
		}
		obj.Body.Close()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("WriteTo %v: reading a shrunk file = %v, want io.ErrUnexpectedEOF", useWriteTo, err)
		}
		writeFile(t, filepath.Join(f.dir, "shrinking"), string(data))
	}
}

// TestFilePutLeavesNoTemporaries checks that failed uploads remove their temporary files.
func TestFilePutLeavesNoTemporaries(t *testing.T) {
	f := newTestFile(t)
	ctx := context.Background()
	for _, size := range []int64{1 << 20, -1} {
		if _, err := f.Put(ctx, PutInput{Key: "x", Body: &failingReader{data: testData(1<<20, 1), failAt: 1000}, Size: size}); !errors.Is(err, errBoom) {
			t.Errorf("Put = %v, want errBoom", err)
		}
	}
	checkTmpEmpty(t, f)
	entries, err := os.ReadDir(filepath.Join(f.dir, filepath.FromSlash(metaDir)))
	if err != nil || len(entries) != 0 {
		t.Errorf("sidecars after failed uploads: %v, %v", entries, err)
	}
}

func TestNewFile(t *testing.T) {
	t.Run("creates the root", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "a", "b")
		f, err := NewFile(root)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Check(context.Background()); err != nil {
			t.Errorf("Check: %v", err)
		}
	})
	t.Run("root is a file", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "file")
		writeFile(t, root, "x")
		if f, err := NewFile(root); err == nil {
			f.Close()
			t.Error("NewFile on a regular file succeeded")
		}
	})
	t.Run("removes stale temporaries", func(t *testing.T) {
		root := t.TempDir()
		stale := filepath.Join(root, filepath.FromSlash(tmpDir), "stale")
		fresh := filepath.Join(root, filepath.FromSlash(tmpDir), "fresh")
		writeFile(t, stale, "x")
		writeFile(t, fresh, "x")
		old := time.Now().Add(-2 * staleTmpAge)
		if err := os.Chtimes(stale, old, old); err != nil {
			t.Fatal(err)
		}
		f, err := NewFile(root)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale temporary file still there: %v", err)
		}
		if _, err := os.Stat(fresh); err != nil {
			t.Errorf("recent temporary file removed: %v", err)
		}
	})
	t.Run("removes stale multipart uploads", func(t *testing.T) {
		root := t.TempDir()
		f, err := NewFile(root)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var dirs []string
		for _, key := range []string{"stale", "fresh"} {
			id, err := f.CreateMultipart(ctx, key, MultipartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.UploadPart(ctx, key, id, 1, onlyReader([]byte("part")), 4); err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, filepath.Join(root, filepath.FromSlash(mpuDir), id))
		}
		f.Close()
		old := time.Now().Add(-2 * staleTmpAge)
		if err := os.Chtimes(dirs[0], old, old); err != nil {
			t.Fatal(err)
		}
		if f, err = NewFile(root); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an upload untouched for two days is still there: %v", err)
		}
		if _, err := os.Stat(dirs[1]); err != nil {
			t.Errorf("a recent upload was removed: %v", err)
		}
	})
}

func TestFileCheck(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	f, err := NewFile(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	if err := f.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	checkTmpEmpty(t, f)
	// The folder is moved away and another takes its place.
	if err := os.Rename(root, filepath.Join(parent, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err == nil {
		t.Error("Check succeeded with the root gone")
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(ctx); err == nil {
		t.Error("Check succeeded with the root replaced")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.Check(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Check with a cancelled context = %v", err)
	}
}

// TestFileCancelledRead checks that computing the ETag of a large hand-dropped file stops
// when the request's context ends.
func TestFileCancelledRead(t *testing.T) {
	f := newTestFile(t)
	writeFile(t, filepath.Join(f.dir, "dropped"), string(testData(1<<20, 32)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Head(ctx, "dropped", Conditions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Head with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestFileWriteToTCP checks WriteTo straight into a TCP connection, whose ReadFrom is where
// the kernel copy (sendfile) happens.
func TestFileWriteToTCP(t *testing.T) {
	f := newTestFile(t)
	data := testData(4<<20, 33)
	putBytes(t, f, "sf", data, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	obj, err := f.Get(context.Background(), "sf", GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body := obj.Body.(*fileBody)
	n, err := body.WriteTo(c)
	body.Close()
	c.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Errorf("received %d bytes, want the object's %d", len(b), len(data))
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkTmpEmpty(t *testing.T, f *File) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.dir, filepath.FromSlash(tmpDir)))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%d temporary files left in %s", len(entries), tmpDir)
	}
}

// TestFileListOrder: a folder's keys come out in bytewise key order across nested folders
// ("a-c" < "a/b" < "a0"), page by page, and a page never reaches past its last key.
func TestFileListOrder(t *testing.T) {
	f := newTestFile(t)
	keys := []string{"p/b", "p/a0", "p/a/c/d", "p/a/b", "p/a-c", "q/x", "pz"}
	for _, k := range keys {
		putBytes(t, f, k, []byte(k), "")
	}
	want := []string{"p/a-c", "p/a/b", "p/a/c/d", "p/a0", "p/b"}
	var got []string
	after := ""
	for range len(want) + 1 {
		page, err := f.List(context.Background(), "p/", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			got = append(got, e.Key)
		}
		if !page.Truncated {
			break
		}
		after = strings.TrimPrefix(page.Entries[len(page.Entries)-1].Key, "p/")
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
}
