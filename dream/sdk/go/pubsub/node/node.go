// Package node publishes to a project's pub-sub channels:
//
//	ch, _ := node.Channel("orders")
//	err := ch.Publish([]byte("hello"))   // every function subscribed to orders gets it
//	err = ch.Subscribe()                 // this function gets orders' messages too
//	u, err := ch.WebSocket().Url()       // the path websocket clients of orders connect to
package node

import (
	"errors"
	"fmt"
	"net/url"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
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
		return fmt.Errorf("publishing to channel `%s` failed with: %w", c.name, errno.Error(code))
	}
	return nil
}

// Subscribe makes the calling function a subscriber of the channel too.
func (c *ChannelObject) Subscribe() error {
	if code := setSubscriptionChannel(c.name); code != 0 {
		return fmt.Errorf("subscribing to channel `%s` failed with: %w", c.name, errno.Error(code))
	}
	return nil
}

// WebSocket is the channel's websocket side.
func (c *ChannelObject) WebSocket() WebSocket { return WebSocket{c.name} }

// Url is the path websocket clients of the channel connect to (relative to the function's host).
func (ws WebSocket) Url() (url.URL, error) {
	var size uint32
	if code := getWebSocketURLSize(ws.name, &size); code != 0 {
		return url.URL{}, fmt.Errorf("getting the websocket url of `%s` failed with: %w", ws.name, errno.Error(code))
	}
	if size == 0 {
		return url.URL{}, nil
	}
	buf := make([]byte, size)
	if code := getWebSocketURL(ws.name, unsafe.Pointer(&buf[0])); code != 0 {
		return url.URL{}, fmt.Errorf("getting the websocket url of `%s` failed with: %w", ws.name, errno.Error(code))
	}
	return url.URL{Path: string(buf)}, nil
}
