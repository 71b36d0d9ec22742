// Package memoryView hands a region of the module's memory to code that reads it later in the same call:
//
//	id, _ := memoryView.New(data, true)   // a view of data (the caller keeps data alive)
//	r, _ := memoryView.Open(id)           // size, closable, and an io.Reader over it
package memoryView

import (
	"io"
	"strconv"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

//go:wasmimport taubyte/sdk memoryViewNew
func memoryViewNew(buf unsafe.Pointer, size uint32, isCloser unsafe.Pointer, id *uint32) uint32

//go:wasmimport taubyte/sdk memoryViewOpen
func memoryViewOpen(id uint32, isCloser unsafe.Pointer, size *uint32) uint32

//go:wasmimport taubyte/sdk memoryViewRead
func memoryViewRead(id uint32, offset uint32, count uint32, buf unsafe.Pointer, n *uint32) uint32

//go:wasmimport taubyte/sdk memoryViewClose
func memoryViewClose(id uint32)

// New makes a view of data; closable says whether readers may close it.
func New(data []byte, closable bool) (uint32, error) {
	var flag byte
	if closable {
		flag = 1
	}
	var ptr unsafe.Pointer
	if len(data) > 0 {
		ptr = unsafe.Pointer(&data[0])
	}
	var id uint32
	if code := memoryViewNew(ptr, uint32(len(data)), unsafe.Pointer(&flag), &id); code != 0 {
		return 0, wrap.Error("new memory view failed with", errno.Error(code))
	}
	return id, nil
}

// Reader reads a view from its start.
type Reader struct {
	id       uint32
	size     uint32
	closable bool
	offset   uint32
}

// Open opens the view `id`.
func Open(id uint32) (*Reader, error) {
	var flag byte
	var size uint32
	if code := memoryViewOpen(id, unsafe.Pointer(&flag), &size); code != 0 {
		return nil, wrap.Error("opening memory view "+strconv.FormatUint(uint64(id), 10)+" failed with", errno.Error(code))
	}
	return &Reader{id: id, size: size, closable: flag == 1}, nil
}

// Size is the view's length.
func (r *Reader) Size() uint32 { return r.size }

// Closable says whether Close ends the view.
func (r *Reader) Closable() bool { return r.closable }

func (r *Reader) Read(p []byte) (int, error) {
	if r.offset >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n uint32
	if code := memoryViewRead(r.id, r.offset, uint32(len(p)), unsafe.Pointer(&p[0]), &n); code != 0 {
		return 0, wrap.Error("reading memory view "+strconv.FormatUint(uint64(r.id), 10)+" failed with", errno.Error(code))
	}
	r.offset += n
	return int(n), nil
}

// Close ends the view when it is closable.
func (r *Reader) Close() error {
	if r.closable {
		memoryViewClose(r.id)
	}
	return nil
}
