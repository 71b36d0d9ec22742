// Package event is the entry type a dream/Taubyte function receives: `func handler(e event.Event) uint32`.
package event

import (
	"errors"

	"github.com/taubyte/go-sdk/common"
	httpEvent "github.com/taubyte/go-sdk/http/event"
	p2pEvent "github.com/taubyte/go-sdk/p2p/event"
	pubsubEvent "github.com/taubyte/go-sdk/pubsub/event"
)

// Event is the id the host passes to the exported handler.
type Event uint32

// HttpEvent is the HTTP view of an event (same type as http/event.Event).
type HttpEvent = httpEvent.Event

// Type asks the host which trigger created this event.
func (e Event) Type() common.EventType {
	var t uint32
	getEventType(uint32(e), &t)
	return common.EventType(t)
}

// HTTP returns the HTTP view of the event, or an error when the event was not an HTTP request.
func (e Event) HTTP() (httpEvent.Event, error) {
	if t := e.Type(); t != common.EventTypeHttp {
		return 0, errors.New("event is not an HTTP event (type " + t.String() + ")")
	}
	return httpEvent.Event(e), nil
}

// PubSub returns the pub-sub view of the event, or an error when the event was not a pub-sub message.
func (e Event) PubSub() (pubsubEvent.Event, error) {
	if t := e.Type(); t != common.EventTypePubsub {
		return 0, errors.New("event is not a pub-sub event (type " + t.String() + ")")
	}
	return pubsubEvent.Event(e), nil
}

// P2P returns the p2p view of the event, or an error when the event was not a p2p command.
func (e Event) P2P() (p2pEvent.Event, error) {
	if t := e.Type(); t != common.EventTypeP2P {
		return 0, errors.New("event is not a p2p event (type " + t.String() + ")")
	}
	return p2pEvent.Event(e), nil
}
