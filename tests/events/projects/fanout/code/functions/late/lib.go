package lib

import (
	"github.com/taubyte/go-sdk/common"
	"github.com/taubyte/go-sdk/database"
	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/pubsub/node"
)

// GET /late?channel=<name>: subscribes this function to the channel (setSubscriptionChannel); each
// message that comes then is kept in /seen as late/<data>.
//
//export late
func late(e event.Event) uint32 {
	if e.Type() == common.EventTypePubsub {
		p, _ := e.PubSub()
		data, _ := p.Data()
		db, err := database.New("/seen")
		if err != nil {
			panic(err)
		}
		if err := db.Put("late/"+string(data), []byte("1")); err != nil {
			panic(err)
		}
		return 0
	}
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	name, _ := h.Query().Get("channel")
	ch, err := node.Channel(name)
	if err == nil {
		err = ch.Subscribe()
	}
	if err != nil {
		h.Write([]byte(err.Error()))
		h.Return(500)
		return 0
	}
	h.Write([]byte("subscribed"))
	h.Return(200)
	return 0
}
