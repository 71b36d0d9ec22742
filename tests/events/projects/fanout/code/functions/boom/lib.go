package lib

import "github.com/taubyte/go-sdk/event"

// Fails on every message (a subscriber that traps must not keep the others from theirs).
//
//export boom
func boom(e event.Event) uint32 {
	if _, err := e.PubSub(); err == nil {
		panic("boom")
	}
	return 0
}
