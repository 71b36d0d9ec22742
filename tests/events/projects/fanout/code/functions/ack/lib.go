package lib

import (
	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/pubsub/node"
)

// On each message of `bench`: the same data on `chat-acks` (whose websocket clients see it).
//
//export ack
func ack(e event.Event) uint32 {
	p, err := e.PubSub()
	if err != nil {
		return 1
	}
	data, err := p.Data()
	if err != nil {
		panic(err)
	}
	ch, err := node.Channel("chat-acks")
	if err != nil {
		panic(err)
	}
	if err := ch.Publish(data); err != nil {
		panic(err)
	}
	return 0
}
