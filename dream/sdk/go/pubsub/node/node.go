// Package node publishes to a project's pub-sub channels:
//
//	ch, _ := node.Channel("orders")
//	err := ch.Publish([]byte("hello"))   // every function subscribed to orders gets it
//	err = ch.Subscribe()                 // this function gets orders' messages too
//	u, err := ch.WebSocket().Url()       // the path websocket clients of orders connect to
package node

import (
	"errors"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

// ChannelObject is a channel of the function's project.
type ChannelObject struct {
	name string
}

// WebSocket is the websocket side of a channel.
type WebSocket ChannelObject

// Channel names a channel (it is checked when used).
func Channel(name string) (*ChannelObject, error) {
	if name == "" {
		return nil, errors.New("channel name cannot be empty")
	}
	return &ChannelObject{name: name}, nil
}

// Name is the channel's name.
func (c *ChannelObject) Name() string { return c.name }

// Publish sends data to every function subscribed to the channel (and its websocket clients).
func (c *ChannelObject) Publish(data []byte) error {
	var ptr unsafe.Pointer
	if len(data) != 0 {
		ptr = unsafe.Pointer(&data[0])
	}
	if code := publishToChannel(c.name, ptr, uint32(len(data))); code != 0 {
		return wrap.Error("publishing to channel `"+c.name+"` failed with", errno.Error(code))
	}
	return nil
}

// Subscribe makes the calling function a subscriber of the channel too.
func (c *ChannelObject) Subscribe() error {
	if code := setSubscriptionChannel(c.name); code != 0 {
		return wrap.Error("subscribing to channel `"+c.name+"` failed with", errno.Error(code))
	}
	return nil
}

// WebSocket is the channel's websocket side.
func (c *ChannelObject) WebSocket() WebSocket { return WebSocket{c.name} }
