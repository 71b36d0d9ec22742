package lib

import (
	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/pubsub/node"
)

// GET /wsurl?channel=<name>: the path websocket clients of the channel connect to.
//
//export wsurl
func wsurl(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	name, _ := h.Query().Get("channel")
	ch, err := node.Channel(name)
	if err == nil {
		u, err2 := ch.WebSocket().Url()
		if err2 == nil {
			h.Write([]byte(u.Path))
			h.Return(200)
			return 0
		}
		err = err2
	}
	h.Write([]byte(err.Error()))
	h.Return(500)
	return 0
}
