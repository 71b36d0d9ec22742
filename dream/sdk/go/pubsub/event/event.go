// Package event is the pub-sub view of an event: the message a subscribed function was called with.
package event

import (
	"errors"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
	"github.com/taubyte/go-sdk/pubsub/node"
)

// Event is a pub-sub event (from event.Event.PubSub()).
type Event uint32

// Data is the message's data.
func (e Event) Data() ([]byte, error) {
	var size uint32
	if code := getMessageDataSize(uint32(e), &size); code != 0 {
		return nil, wrap.Error("getting the message's data size failed with", errno.Error(code))
	}
	if size == 0 {
		return nil, nil
	}
	data := make([]byte, size)
	if code := getMessageData(uint32(e), unsafe.Pointer(&data[0])); code != 0 {
		return nil, wrap.Error("getting the message's data failed with", errno.Error(code))
	}
	return data, nil
}

// Channel is the channel the message came on.
func (e Event) Channel() (*node.ChannelObject, error) {
	var size uint32
	if code := getMessageChannelSize(uint32(e), &size); code != 0 {
		return nil, wrap.Error("getting the message's channel size failed with", errno.Error(code))
	}
	if size == 0 {
		return nil, errors.New("got an empty channel")
	}
	name := make([]byte, size)
	if code := getMessageChannel(uint32(e), unsafe.Pointer(&name[0])); code != 0 {
		return nil, wrap.Error("getting the message's channel failed with", errno.Error(code))
	}
	return node.Channel(string(name))
}
