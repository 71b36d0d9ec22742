package lib

import (
	"encoding/hex"
	"io"

	"github.com/taubyte/go-sdk/crypto/rand"
	"github.com/taubyte/go-sdk/event"
)

// GET /rand: 32 random bytes from the go-sdk crypto/rand reader, in hex.
//
//export gorand
func gorand(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	buf := make([]byte, 32)
	if _, err := io.ReadFull(rand.NewReader(), buf); err != nil {
		h.Write([]byte(err.Error()))
		h.Return(500)
		return 0
	}
	h.Write([]byte(hex.EncodeToString(buf)))
	h.Return(200)
	return 0
}
