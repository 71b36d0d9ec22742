// Package rand reads cryptographically secure random bytes from the host.
package rand

import (
	"io"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

//go:wasmimport taubyte/sdk cryptoRead
func cryptoRead(buf unsafe.Pointer, size uint32, read *uint64) uint32

type reader struct{}

// NewReader is an io.Reader of random bytes.
func NewReader() io.Reader { return reader{} }

func (reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uint64
	if code := cryptoRead(unsafe.Pointer(&p[0]), uint32(len(p)), &n); code != 0 {
		return 0, wrap.Error("reading failed with", errno.Error(code))
	}
	return int(n), nil
}
