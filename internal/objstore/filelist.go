package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// List implements Backend. It reads only what one page needs: a folder's entries are visited
// in the order of the keys they hold (folder "a" sorts as "a/"), so keys come out in bytewise
// order; folders outside the prefix, or wholly before prefix+after, are skipped; the walk
// stops at limit+1 keys.
func (f *File) List(ctx context.Context, prefix, after string, limit int) (ListPage, error) {
	w := lister{f: f, ctx: ctx, prefix: prefix, start: prefix + after, limit: limit}
	err := w.walk(path.Dir(prefix + "x")) // the deepest folder every matching key lives in
	if err != nil && err != errPageFull {
		return ListPage{}, fmt.Errorf("file list %q: %w", prefix, err)
	}
	page := ListPage{}
	keys := w.keys
	if len(keys) > limit {
		keys, page.Truncated = keys[:limit], true
	}
	for _, k := range keys {
		fi, err := f.root.Stat(filepath.FromSlash(k))
		if err != nil {
			continue // gone meanwhile
		}
		e := ListEntry{Key: k, Size: fi.Size(), LastModified: fi.ModTime()}
		if m, ok := f.readSidecar(k); ok && m.Size == fi.Size() && m.MTimeNS == fi.ModTime().UnixNano() {
			e.ETag = m.ETag
		}
		page.Entries = append(page.Entries, e)
	}
	return page, nil
}

// errPageFull stops a listing walk once it has a page and one key more.
var errPageFull = errors.New("page full")

// lister walks a File backend's folders in key order for one page of List.
type lister struct {
	f             *File
	ctx           context.Context
	prefix, start string // keys start with prefix and sort after start
	limit         int
	keys          []string
}

func (l *lister) walk(dir string) error {
	if err := l.ctx.Err(); err != nil {
		return err
	}
	d, err := l.f.root.Open(filepath.FromSlash(dir))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing under the prefix
	}
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	type item struct {
		key string // the key, or the folder's key prefix ("a/b/")
		dir bool
	}
	items := make([]item, 0, len(entries))
	for _, e := range entries {
		key := e.Name()
		if dir != "." {
			key = dir + "/" + key
		}
		switch {
		case e.IsDir() && key != metaRoot:
			items = append(items, item{key + "/", true})
		case e.Type().IsRegular():
			items = append(items, item{key, false})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.key, b.key) })
	for _, it := range items {
		switch {
		case it.dir:
			related := strings.HasPrefix(it.key, l.prefix) || strings.HasPrefix(l.prefix, it.key)
			before := l.start >= it.key && !strings.HasPrefix(l.start, it.key) // every key below < start
			if related && !before {
				if err := l.walk(strings.TrimSuffix(it.key, "/")); err != nil {
					return err
				}
			}
		case strings.HasPrefix(it.key, l.prefix) && it.key > l.start:
			l.keys = append(l.keys, it.key)
			if len(l.keys) > l.limit {
				return errPageFull
			}
		}
	}
	return nil
}
