package lib

import (
	"strings"

	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/self"
)

// GET /self: project|application|function|branch|commit, from the go-sdk self package.
//
//export goself
func goself(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	var values []string
	for _, get := range []func() (string, error){self.Project, self.Application, self.Function, self.Branch, self.Commit} {
		v, err := get()
		if err != nil {
			h.Write([]byte(err.Error()))
			h.Return(500)
			return 0
		}
		values = append(values, v)
	}
	h.Write([]byte(strings.Join(values, "|")))
	h.Return(200)
	return 0
}
