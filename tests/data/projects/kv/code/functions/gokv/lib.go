package lib

import (
	"errors"
	"strings"

	"github.com/taubyte/go-sdk/database"
	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/event"
	http "github.com/taubyte/go-sdk/http/event"
)

// GET /gokv?db=<name>&op=<put|get|del|list>&k=<key>&v=<value>, written against the go-sdk API.
//
//export gokv
func gokv(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	name, _ := h.Query().Get("db")
	op, _ := h.Query().Get("op")
	key, _ := h.Query().Get("k")
	value, _ := h.Query().Get("v")

	db, err := database.New(name)
	if err != nil {
		return answer(h, "new", err)
	}
	defer db.Close()

	switch op {
	case "put":
		return answer(h, "put", db.Put(key, []byte(value)))
	case "get":
		data, err := db.Get(key)
		if err != nil {
			if errors.Is(err, errno.ErrorDatabaseKeyNotFound) {
				h.Write([]byte("missing"))
				h.Return(404)
				return 0
			}
			return answer(h, "get", err)
		}
		h.Write(data)
	case "del":
		return answer(h, "del", db.Delete(key))
	case "list":
		keys, err := db.List(key)
		if err != nil {
			return answer(h, "list", err)
		}
		h.Write([]byte(strings.Join(keys, ",")))
	}
	h.Return(200)
	return 0
}

func answer(h http.Event, what string, err error) uint32 {
	if err != nil {
		h.Write([]byte(what + ": " + err.Error()))
		h.Return(500)
		return 0
	}
	h.Write([]byte(what + ": ok"))
	h.Return(200)
	return 0
}
