package lib

import (
	"io"

	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/i2mv/fifo"
	"github.com/taubyte/go-sdk/i2mv/memoryView"
)

var kept = []byte("viewed bytes")

// GET /i2mv: what a memory view of "viewed bytes" reads back, then " / ", then what a fifo of "fifo"
// pops until EOF.
//
//export goi2mv
func goi2mv(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	id, err := memoryView.New(kept, true)
	if err != nil {
		return fail(h, err)
	}
	r, err := memoryView.Open(id)
	if err != nil {
		return fail(h, err)
	}
	viewed, err := io.ReadAll(r)
	if err != nil {
		return fail(h, err)
	}
	r.Close()
	q := fifo.New(true)
	for _, b := range []byte("fifo") {
		q.Push(b)
	}
	var popped []byte
	for {
		b, err := q.Pop()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(h, err)
		}
		popped = append(popped, b)
	}
	q.Close()
	h.Write(append(append(viewed, " / "...), popped...))
	h.Return(200)
	return 0
}

func fail(h interface {
	Write([]byte) (int, error)
	Return(int) error
}, err error) uint32 {
	h.Write([]byte(err.Error()))
	h.Return(502)
	return 0
}
