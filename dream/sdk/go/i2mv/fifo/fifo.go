// Package fifo is a byte queue shared by the code of one call: Push, then Pop until io.EOF.
package fifo

import (
	"io"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

//go:wasmimport taubyte/sdk fifoNew
func fifoNew(readCloser uint32) uint32

//go:wasmimport taubyte/sdk fifoPush
func fifoPush(id uint32, value uint32) uint32

//go:wasmimport taubyte/sdk fifoPop
func fifoPop(id uint32, value unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk fifoIsCloser
func fifoIsCloser(id uint32, value unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk fifoClose
func fifoClose(id uint32)

// Fifo is a queue's id.
type Fifo uint32

// New makes a queue; readCloser says whether readers may close it.
func New(readCloser bool) Fifo {
	var flag uint32
	if readCloser {
		flag = 1
	}
	return Fifo(fifoNew(flag))
}

// Push adds a byte.
func (f Fifo) Push(b byte) error {
	if code := fifoPush(uint32(f), uint32(b)); code != 0 {
		return wrap.Error("fifo push failed with", errno.Error(code))
	}
	return nil
}

// Pop takes the oldest byte; io.EOF when the queue is empty.
func (f Fifo) Pop() (byte, error) {
	var b byte
	code := fifoPop(uint32(f), unsafe.Pointer(&b))
	if code == uint32(errno.ErrorEOF) {
		return 0, io.EOF
	}
	if code != 0 {
		return 0, wrap.Error("fifo pop failed with", errno.Error(code))
	}
	return b, nil
}

// IsCloser says whether readers may close the queue.
func (f Fifo) IsCloser() (bool, error) {
	var b byte
	if code := fifoIsCloser(uint32(f), unsafe.Pointer(&b)); code != 0 {
		return false, wrap.Error("fifo isCloser failed with", errno.Error(code))
	}
	return b == 1, nil
}

// Close ends the queue.
func (f Fifo) Close() { fifoClose(uint32(f)) }
