// Package common holds the types shared by every event family of dream's Go guest SDK.
package common

// EventType tells which trigger created an event (values fixed by the taubyte/sdk host ABI).
type EventType uint32

const (
	EventTypeUndefined EventType = 0
	EventTypeHttp      EventType = 1
	EventTypePubsub    EventType = 2
	EventTypeP2P       EventType = 3
)

func (t EventType) String() string {
	switch t {
	case EventTypeHttp:
		return "http"
	case EventTypePubsub:
		return "pubsub"
	case EventTypeP2P:
		return "p2p"
	}
	return "undefined"
}
