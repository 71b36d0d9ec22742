// Package storage is the object storage of a function's project: `storage.New("/uploads")` opens the
// storage whose `match` fits the name; its files have versions when the storage's config turns
// `object.versioning` on.
//
// Errors wrap the host's errno.Error (`errors.Is(err, errno.Error(90))`: no such file or version).
// Storage.Cid returns this package's Cid (its String() is the CID text) rather than go-cid's.
package storage

import (
	"encoding/base32"
	"errors"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

// CidBufferSize is the size of the buffer a CID is written into.
const CidBufferSize = 64

// Storage is an opened storage (a handle valid for the rest of the call).
type Storage uint32

// File is a file of a storage, at its latest version or (Version) a given one.
type File struct {
	storage Storage
	name    string
	version uint32
}

// StorageFile is a file opened for reading.
type StorageFile struct {
	storage Storage
	fd      uint32
}

// DefaultFile is what a File and a VersionedFile offer.
type DefaultFile interface {
	Add(data []byte, overWrite bool) (int, error)
	GetFile() (*StorageFile, error)
	Delete() error
	DeleteAllVersions() error
	CurrentVersion() (int, error)
	Versions() ([]string, error)
}

// VersionedFile is a File at one version.
type VersionedFile struct {
	DefaultFile
}

// Cid is a content id, in its binary form.
type Cid struct{ raw []byte }

var base32Lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// String is the CID's text (base32, `b…`).
func (c Cid) String() string { return "b" + base32Lower.EncodeToString(c.raw) }

// Bytes is the CID's binary form.
func (c Cid) Bytes() []byte { return c.raw }

func fail(what string, code uint32) error {
	return wrap.Error(what+" failed with", errno.Error(code))
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func splitNul(buf []byte) []string {
	out := []string{}
	for _, item := range strings.Split(string(buf), "\x00") {
		if item != "" {
			out = append(out, item)
		}
	}
	return out
}

// New opens the storage that `name` matches.
func New(name string) (Storage, error) {
	var id uint32
	if code := storageNew(name, &id); code != 0 {
		return 0, fail("creating storage "+name, code)
	}
	return Storage(id), nil
}

// Get opens the storage that `name` matches (errno 92 when none does).
func Get(name string) (Storage, error) {
	var id uint32
	if code := storageGet(name, &id); code != 0 {
		return 0, fail("getting storage "+name, code)
	}
	return Storage(id), nil
}

// File is the file `name` of the storage (its latest version).
func (s Storage) File(name string) *File { return &File{storage: s, name: name} }

// ListFiles returns every version of every file of the storage.
func (s Storage) ListFiles() ([]File, error) {
	var size uint32
	if code := storageListFilesSize(uint32(s), &size); code != 0 {
		return nil, fail("listing files", code)
	}
	files := []File{}
	if size == 0 {
		return files, nil
	}
	buf := make([]byte, size)
	if code := storageListFiles(uint32(s), ptr(buf)); code != 0 {
		return nil, fail("listing files", code)
	}
	for _, entry := range splitNul(buf) { // `/file/<name>/<version>`
		parts := strings.Split(strings.TrimPrefix(entry, "/file/"), "/")
		if len(parts) != 2 {
			continue
		}
		version, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil, err
		}
		files = append(files, File{storage: s, name: parts[0], version: uint32(version)})
	}
	return files, nil
}

// Cid returns the CID of the latest version of file `name`.
func (s Storage) Cid(name string) (Cid, error) {
	buf := make([]byte, CidBufferSize)
	if code := storageCid(uint32(s), name, ptr(buf)); code != 0 {
		return Cid{}, fail("getting the cid of "+name, code)
	}
	// CIDv1 raw sha2-256: version, codec, hash code and length, then the 32-byte digest.
	return cidFrom(buf)
}

func (s Storage) amount(sizeFn func(uint32, *uint32) uint32, dataFn func(uint32, unsafe.Pointer) uint32) (int, error) {
	var size uint32
	if code := sizeFn(uint32(s), &size); code != 0 {
		return 0, fail("reading the storage's size", code)
	}
	buf := make([]byte, size)
	if size != 0 {
		if code := dataFn(uint32(s), ptr(buf)); code != 0 {
			return 0, fail("reading the storage's size", code)
		}
	}
	return strconv.Atoi(string(buf))
}

// Used is the bytes the storage's files take.
func (s Storage) Used() (int, error) { return s.amount(storageUsedSize, storageUsed) }

// Capacity is the bytes the storage may hold (its config's size).
func (s Storage) Capacity() (int, error) { return s.amount(storageCapacitySize, storageCapacity) }

// RemainingCapacity is Capacity - Used.
func (s Storage) RemainingCapacity() (int, error) {
	used, err := s.Used()
	if err != nil {
		return 0, err
	}
	capacity, err := s.Capacity()
	if err != nil {
		return 0, err
	}
	return capacity - used, nil
}

// Name is the file's name.
func (f *File) Name() string { return f.name }

// Version is the file at version `version`.
func (f *File) Version(version uint32) *VersionedFile {
	file := *f
	file.version = version
	return &VersionedFile{&file}
}

// Add stores data as the file: a new version (versioning storages), or over the current one with overWrite.
func (f *File) Add(data []byte, overWrite bool) (int, error) {
	if len(data) == 0 {
		return 0, errors.New("data cannot be empty")
	}
	var over, version uint32
	if overWrite {
		over = 1
	}
	if code := storageAddFile(uint32(f.storage), f.name, &version, ptr(data), uint32(len(data)), over); code != 0 {
		return 0, fail("adding file "+f.name, code)
	}
	return int(version), nil
}

// GetFile opens the file (its version, or the latest) for reading.
func (f *File) GetFile() (*StorageFile, error) {
	var fd uint32
	if code := storageGetFile(uint32(f.storage), f.name, f.version, &fd); code != 0 {
		return nil, fail("getting file "+f.name, code)
	}
	return &StorageFile{storage: f.storage, fd: fd}, nil
}

// Delete removes the file's version (the latest when none was chosen).
func (f *File) Delete() error {
	if code := storageDeleteFile(uint32(f.storage), f.name, f.version, 0); code != 0 {
		return fail("deleting file "+f.name, code)
	}
	return nil
}

// DeleteAllVersions removes every version of the file.
func (f *File) DeleteAllVersions() error {
	if code := storageDeleteFile(uint32(f.storage), f.name, 0, 1); code != 0 {
		return fail("deleting file "+f.name, code)
	}
	return nil
}

// CurrentVersion is the file's latest version.
func (f *File) CurrentVersion() (int, error) {
	var size uint32
	if code := storageCurrentVersionSize(uint32(f.storage), f.name, &size); code != 0 {
		return 0, fail("getting the current version of "+f.name, code)
	}
	if size == 0 {
		return 0, errors.New("no current version of " + f.name)
	}
	buf := make([]byte, size)
	if code := storageCurrentVersion(f.name, ptr(buf)); code != 0 {
		return 0, fail("getting the current version of "+f.name, code)
	}
	return strconv.Atoi(string(buf))
}

// Versions lists the file's versions.
func (f *File) Versions() ([]string, error) {
	var size uint32
	if code := storageListVersionsSize(uint32(f.storage), f.name, &size); code != 0 {
		return nil, fail("listing versions of "+f.name, code)
	}
	buf := make([]byte, size)
	if code := storageListVersions(uint32(f.storage), f.name, ptr(buf)); code != 0 {
		return nil, fail("listing versions of "+f.name, code)
	}
	return splitNul(buf), nil
}

// Read reads the next bytes of the file; io.EOF once none are left.
func (file *StorageFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uint32
	code := storageReadFile(uint32(file.storage), file.fd, ptr(p), uint32(len(p)), &n)
	if errno.Error(code) == errno.ErrorEOF {
		return int(n), io.EOF
	}
	if code != 0 {
		return int(n), fail("reading file", code)
	}
	return int(n), nil
}

// Close releases the opened file.
func (file *StorageFile) Close() error {
	if code := storageCloseFile(uint32(file.storage), file.fd); code != 0 {
		return fail("closing file", code)
	}
	return nil
}
