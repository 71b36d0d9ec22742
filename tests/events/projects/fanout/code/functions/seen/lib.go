package lib

import (
	"strings"

	"github.com/taubyte/go-sdk/database"
	"github.com/taubyte/go-sdk/event"
)

// GET /seen?prefix=<p>: the keys of /seen with the prefix, comma-separated; with &key=<k> its value.
//
//export seen
func seen(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	prefix, _ := h.Query().Get("prefix")
	key, _ := h.Query().Get("key")
	db, err := database.New("/seen")
	if err == nil && key != "" {
		var value []byte
		if value, err = db.Get(key); err == nil {
			h.Write(value)
		}
	} else if err == nil {
		var keys []string
		if keys, err = db.List(prefix); err == nil {
			h.Write([]byte(strings.Join(keys, ",")))
		}
	}
	if err != nil {
		h.Write([]byte(err.Error()))
		h.Return(500)
		return 0
	}
	h.Return(200)
	return 0
}
