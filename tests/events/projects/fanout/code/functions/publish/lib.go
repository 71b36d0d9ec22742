package lib

import (
	"io"

	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/pubsub/node"
)

// POST /publish?channel=<name>: publishes the request body on the channel.
//
//export publish
func publish(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	name, _ := h.Query().Get("channel")
	data, _ := io.ReadAll(h.Body())
	ch, err := node.Channel(name)
	if err == nil {
		err = ch.Publish(data)
	}
	if err != nil {
		h.Write([]byte(err.Error()))
		h.Return(500)
		return 0
	}
	h.Write([]byte("published"))
	h.Return(200)
	return 0
}
