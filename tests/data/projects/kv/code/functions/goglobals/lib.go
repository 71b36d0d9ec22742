package lib

import (
	"fmt"

	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/globals/scope"
	"github.com/taubyte/go-sdk/globals/str"
	"github.com/taubyte/go-sdk/globals/u32"
)

// GET /goglobals?scope=<project|application|function>&note=<text>: counts calls in a u32 global of
// that scope and keeps the last note in a string global; answers "<count> <previous note>".
//
//export goglobals
func goglobals(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	which, _ := h.Query().Get("scope")
	note, _ := h.Query().Get("note")
	var (
		counter u32.Uint32
		last    str.String
	)
	switch which {
	case "application":
		counter, err = u32.GetOrCreate("counter", scope.Application)
		last, _ = str.GetOrCreate("note", scope.Application)
	case "function":
		counter, err = u32.GetOrCreate("counter", scope.Function)
		last, _ = str.GetOrCreate("note", scope.Function)
	default:
		counter, err = u32.GetOrCreate("counter")
		last, _ = str.GetOrCreate("note")
	}
	if err != nil {
		h.Write([]byte("counter: " + err.Error()))
		h.Return(500)
		return 0
	}
	if err := counter.Set(counter.Value() + 1); err != nil {
		h.Write([]byte("set: " + err.Error()))
		h.Return(500)
		return 0
	}
	previous := last.Value()
	if note != "" {
		last.Set(note)
	}
	h.Write([]byte(fmt.Sprintf("%d %s", counter.Value(), previous)))
	h.Return(200)
	return 0
}
