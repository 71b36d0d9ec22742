// Package event is the p2p view of an event: the command a handler function runs for, and its answer.
package event

import (
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
	"github.com/taubyte/go-sdk/p2p/node"
)

// Event is a p2p event (from event.Event.P2P()).
type Event uint32

func (e Event) value(what string, size func(uint32, *uint32) uint32, data func(uint32, unsafe.Pointer) uint32) ([]byte, error) {
	var n uint32
	if code := size(uint32(e), &n); code != 0 {
		return nil, wrap.Error("getting the "+what+" size failed with", errno.Error(code))
	}
	if n == 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	if code := data(uint32(e), unsafe.Pointer(&buf[0])); code != 0 {
		return nil, wrap.Error("getting the "+what+" failed with", errno.Error(code))
	}
	return buf, nil
}

// Command is the command's name.
func (e Event) Command() (string, error) {
	v, err := e.value("command", getP2PEventCommandSize, getP2PEventCommand)
	return string(v), err
}

// Data is what the sender sent.
func (e Event) Data() ([]byte, error) {
	return e.value("data", getP2PEventDataSize, getP2PEventData)
}

// Protocol is the service's protocol.
func (e Event) Protocol() (string, error) {
	v, err := e.value("protocol", getP2PEventProtocolSize, getP2PEventProtocol)
	return string(v), err
}

func (e Event) peer(what string, get func(uint32, unsafe.Pointer) uint32) (node.Peer, error) {
	buf := make([]byte, 64)
	if code := get(uint32(e), unsafe.Pointer(&buf[0])); code != 0 {
		return nil, wrap.Error("getting the "+what+" failed with", errno.Error(code))
	}
	return node.Peer(buf), nil
}

// From is the node the command came from.
func (e Event) From() (node.Peer, error) { return e.peer("sender", getP2PEventFrom) }

// To is the node the handler runs on.
func (e Event) To() (node.Peer, error) { return e.peer("receiver", getP2PEventTo) }

// Write sets the answer the sender gets.
func (e Event) Write(data []byte) error {
	var p unsafe.Pointer
	if len(data) != 0 {
		p = unsafe.Pointer(&data[0])
	}
	if code := writeP2PResponse(uint32(e), p, uint32(len(data))); code != 0 {
		return wrap.Error("writing the p2p response failed with", errno.Error(code))
	}
	return nil
}
