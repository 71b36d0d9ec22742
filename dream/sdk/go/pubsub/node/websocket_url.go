//go:build !dream_without_net_url

// Url lives in a file of its own: net/url's initialisation (net/netip's, unique's) is a sixth of a
// function's module. dream builds a function that never names Url with the tag dream_without_net_url,
// which leaves this file, and net/url, out of it.

package node

import (
	"net/url"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

// Url is the path websocket clients of the channel connect to (relative to the function's host).
func (ws WebSocket) Url() (url.URL, error) {
	var size uint32
	if code := getWebSocketURLSize(ws.name, &size); code != 0 {
		return url.URL{}, wrap.Error("getting the websocket url of `"+ws.name+"` failed with", errno.Error(code))
	}
	if size == 0 {
		return url.URL{}, nil
	}
	buf := make([]byte, size)
	if code := getWebSocketURL(ws.name, unsafe.Pointer(&buf[0])); code != 0 {
		return url.URL{}, wrap.Error("getting the websocket url of `"+ws.name+"` failed with", errno.Error(code))
	}
	return url.URL{Path: string(buf)}, nil
}
