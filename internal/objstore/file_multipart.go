package objstore

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The File backend's Multipart. An upload lives in <root>/.assetgateway/mpu/<uploadID>/ (a
// random 128-bit id in hex): upload.json names the key, the content type and the metadata,
// and part-NNNNN holds part NNNNN — the hex MD5 of the part's bytes (its ETag, 32 bytes)
// followed by the bytes. A part is written aside in the same folder and renamed into place,
// so uploading a number again replaces it at once, as S3 does, and a failed part leaves
// what was there. CompleteMultipart streams the listed parts through Put — atomic, with the
// content type and metadata in the sidecar, honouring IfNoneMatch — then removes the folder.
// Folders untouched for a day are removed by NewFile, like temporary files.

const (
	mpuDir      = metaRoot + "/mpu"
	mpuInfoName = "upload.json"
	partPrefix  = "part-"
	partETagLen = 32 // hex MD5 at the start of every part file
	maxMPUInfo  = 1 << 20
)

// mpuInfo is an upload's upload.json.
type mpuInfo struct {
	Key         string            `json:"key"`
	ContentType string            `json:"content_type"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// validUploadID reports whether id can name an upload folder: 32 lowercase hex digits.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

func mpuPath(id, name string) string {
	return filepath.FromSlash(mpuDir + "/" + id + "/" + name)
}

func partName(number int32) string { return fmt.Sprintf("%s%05d", partPrefix, number) }

// CreateMultipart implements Multipart.
func (f *File) CreateMultipart(ctx context.Context, key string, o MultipartOptions) (string, error) {
	if err := ValidFileKey(key); err != nil {
		return "", err
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	ct := o.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	info, err := json.Marshal(mpuInfo{Key: key, ContentType: ct, Metadata: o.Metadata})
	if err != nil {
		return "", fmt.Errorf("file create multipart %q: %w", key, err)
	}
	if err := f.root.MkdirAll(filepath.FromSlash(mpuDir), 0o755); err != nil {
		return "", fmt.Errorf("file create multipart %q: %w", key, err)
	}
	if err := f.root.Mkdir(mpuPath(id, ""), 0o755); err != nil {
		return "", fmt.Errorf("file create multipart %q: %w", key, err)
	}
	if err := f.root.WriteFile(mpuPath(id, mpuInfoName), info, 0o644); err != nil {
		_ = f.root.RemoveAll(mpuPath(id, ""))
		return "", fmt.Errorf("file create multipart %q: %w", key, err)
	}
	return id, nil
}

// openUpload reads the upload's description; ErrUploadNotFound when there is none for key.
func (f *File) openUpload(key, id string) (mpuInfo, error) {
	if !validUploadID(id) {
		return mpuInfo{}, ErrUploadNotFound
	}
	file, err := f.root.Open(mpuPath(id, mpuInfoName))
	if errors.Is(err, fs.ErrNotExist) {
		return mpuInfo{}, ErrUploadNotFound
	}
	if err != nil {
		return mpuInfo{}, err
	}
	defer file.Close()
	var info mpuInfo
	if err := json.NewDecoder(io.LimitReader(file, maxMPUInfo)).Decode(&info); err != nil {
		return mpuInfo{}, fmt.Errorf("upload %s: %w", id, err)
	}
	if info.Key != key {
		return mpuInfo{}, ErrUploadNotFound // another key's upload: not this one
	}
	return info, nil
}

// UploadPart implements Multipart.
func (f *File) UploadPart(ctx context.Context, key, uploadID string, number int32, body io.Reader, size int64) (Part, error) {
	if err := checkPart(number, size); err != nil {
		return Part{}, fmt.Errorf("file upload part %q: %w", key, err)
	}
	if _, err := f.openUpload(key, uploadID); err != nil {
		return Part{}, fmt.Errorf("file upload part %q: %w", key, err)
	}
	ub := &uploadBody{ctx: ctx, r: body, remaining: size}
	p, err := f.writePart(uploadID, number, ub)
	if err != nil {
		return Part{}, putError(ub, fmt.Errorf("file upload part %q: %w", key, err))
	}
	return p, nil
}

// writePart writes body aside, then renames it over part number.
func (f *File) writePart(id string, number int32, body *uploadBody) (Part, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := mpuPath(id, ".tmp-"+hex.EncodeToString(rnd[:]))
	tmp, err := f.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		return Part{}, ErrUploadNotFound // aborted meanwhile
	}
	if err != nil {
		return Part{}, err
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
	if _, err := tmp.Write(make([]byte, partETagLen)); err != nil { // the ETag goes here at the end
		return Part{}, err
	}
	h := md5.New()
	bp := fileBufs.get()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), body, *bp)
	fileBufs.put(bp)
	if err != nil {
		return Part{}, err
	}
	etag := hex.EncodeToString(h.Sum(nil))
	if _, err := tmp.WriteAt([]byte(etag), 0); err != nil {
		return Part{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Part{}, err
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return Part{}, err
	}
	if err := f.root.Rename(name, mpuPath(id, partName(number))); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Part{}, ErrUploadNotFound
		}
		return Part{}, err
	}
	renamed = true
	return Part{Number: number, ETag: etag, Size: n}, nil
}

// readPart returns what is stored for part number; fs.ErrNotExist when nothing is.
func (f *File) readPart(id string, number int32) (Part, error) {
	file, err := f.root.Open(mpuPath(id, partName(number)))
	if err != nil {
		return Part{}, err
	}
	defer file.Close()
	var etag [partETagLen]byte
	if _, err := io.ReadFull(file, etag[:]); err != nil {
		return Part{}, fmt.Errorf("part %d: %w", number, err)
	}
	fi, err := file.Stat()
	if err != nil {
		return Part{}, err
	}
	return Part{Number: number, ETag: string(etag[:]), Size: fi.Size() - partETagLen}, nil
}

// ListParts implements Multipart.
func (f *File) ListParts(ctx context.Context, key, uploadID string) ([]Part, error) {
	if _, err := f.openUpload(key, uploadID); err != nil {
		return nil, fmt.Errorf("file list parts %q: %w", key, err)
	}
	d, err := f.root.Open(mpuPath(uploadID, ""))
	if err != nil {
		return nil, fmt.Errorf("file list parts %q: %w", key, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("file list parts %q: %w", key, err)
	}
	var parts []Part
	for _, name := range names {
		n, err := strconv.ParseInt(strings.TrimPrefix(name, partPrefix), 10, 32)
		if !strings.HasPrefix(name, partPrefix) || err != nil {
			continue
		}
		p, err := f.readPart(uploadID, int32(n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // aborted or replaced meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("file list parts %q: %w", key, err)
		}
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(a, b Part) int { return int(a.Number) - int(b.Number) })
	return parts, nil
}

// CompleteMultipart implements Multipart: the parts are checked as S3 checks them, then
// streamed through Put. The object's ETag is the MD5 of its content, as for any File object.
func (f *File) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part, o CompleteOptions) (PutResult, error) {
	info, err := f.openUpload(key, uploadID)
	if err != nil {
		return PutResult{}, fmt.Errorf("file complete multipart %q: %w", key, err)
	}
	if len(parts) == 0 {
		return PutResult{}, fmt.Errorf("file complete multipart %q: %w: no parts", key, ErrInvalidParts)
	}
	parts = slices.Clone(parts) // sizes are taken from what is stored
	var total int64
	for i, p := range parts {
		stored, err := f.readPart(uploadID, p.Number)
		var why string
		switch {
		case errors.Is(err, fs.ErrNotExist):
			why = "was never stored"
		case err != nil:
			return PutResult{}, fmt.Errorf("file complete multipart %q: %w", key, err)
		case i > 0 && p.Number <= parts[i-1].Number:
			why = "is out of order"
		case stored.ETag != p.ETag:
			why = "has another ETag"
		case i < len(parts)-1 && stored.Size < MinPartSize:
			why = fmt.Sprintf("is smaller than %d bytes and not the last", MinPartSize)
		}
		if why != "" {
			return PutResult{}, fmt.Errorf("file complete multipart %q: %w: part %d %s", key, ErrInvalidParts, p.Number, why)
		}
		parts[i].Size = stored.Size
		total += stored.Size
	}
	body := &partsReader{f: f, id: uploadID, parts: parts}
	defer body.close()
	res, err := f.Put(ctx, PutInput{Key: key, Body: body, Size: total, ContentType: info.ContentType,
		Metadata: info.Metadata, IfNoneMatch: o.IfNoneMatch})
	if err != nil {
		return PutResult{}, err
	}
	_ = f.root.RemoveAll(mpuPath(uploadID, ""))
	return res, nil
}

// partsReader reads the bytes of parts, one after the other.
type partsReader struct {
	f     *File
	id    string
	parts []Part
	cur   *os.File
	lr    io.LimitedReader
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.cur != nil {
			n, err := r.lr.Read(p)
			if err != io.EOF {
				return n, err
			}
			r.cur.Close()
			r.cur = nil
		}
		if len(r.parts) == 0 {
			return 0, io.EOF
		}
		next := r.parts[0]
		file, err := r.f.root.Open(mpuPath(r.id, partName(next.Number)))
		if err != nil {
			return 0, err
		}
		if _, err := file.Seek(partETagLen, io.SeekStart); err != nil {
			file.Close()
			return 0, err
		}
		r.cur, r.lr, r.parts = file, io.LimitedReader{R: file, N: next.Size}, r.parts[1:]
	}
}

func (r *partsReader) close() {
	if r.cur != nil {
		r.cur.Close()
	}
}

// AbortMultipart implements Multipart.
func (f *File) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if _, err := f.openUpload(key, uploadID); err != nil {
		if errors.Is(err, ErrUploadNotFound) {
			return nil
		}
		return fmt.Errorf("file abort multipart %q: %w", key, err)
	}
	if err := f.root.RemoveAll(mpuPath(uploadID, "")); err != nil {
		return fmt.Errorf("file abort multipart %q: %w", key, err)
	}
	return nil
}

// removeStaleUploads removes upload folders no part has been written to for a day (a
// crashed or forgotten upload), best effort.
func (f *File) removeStaleUploads() {
	d, err := f.root.Open(filepath.FromSlash(mpuDir))
	if err != nil {
		return
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.IsDir() && time.Since(info.ModTime()) > staleTmpAge {
			_ = f.root.RemoveAll(filepath.FromSlash(mpuDir + "/" + e.Name()))
		}
	}
}
