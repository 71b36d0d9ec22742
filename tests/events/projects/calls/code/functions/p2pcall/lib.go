package lib

import (
	"strings"
	"time"

	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/p2p/node"
)

// GET /p2p?protocol=<p>&command=<c>&data=<d>[&each=1][&listen=1]: sends the command with the go-sdk p2p
// node package and answers with the response (each=1: to each discovered node in turn, one line each;
// listen=1: the protocol's listen name).
//
//export p2pcall
func p2pcall(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	protocol, _ := h.Query().Get("protocol")
	command, _ := h.Query().Get("command")
	data, _ := h.Query().Get("data")
	each, _ := h.Query().Get("each")
	listen, _ := h.Query().Get("listen")
	svc := node.New(protocol)
	var out []string
	if listen != "" {
		name, err := svc.Listen()
		if err != nil {
			return fail(h, err)
		}
		out = append(out, name)
	} else {
		cmd, err := svc.Command(command)
		if err != nil {
			return fail(h, err)
		}
		if each != "" {
			peers, err := node.Discover(10, time.Second)
			if err != nil {
				return fail(h, err)
			}
			for _, peer := range peers {
				answer, err := cmd.SendTo([]byte(data), peer)
				if err != nil {
					return fail(h, err)
				}
				out = append(out, string(answer))
			}
		} else {
			answer, err := cmd.Send([]byte(data))
			if err != nil {
				return fail(h, err)
			}
			out = append(out, string(answer))
		}
	}
	h.Write([]byte(strings.Join(out, "\n")))
	h.Return(200)
	return 0
}

func fail(h interface {
	Write([]byte) (int, error)
	Return(int) error
}, err error) uint32 {
	h.Write([]byte(err.Error()))
	h.Return(502)
	return 0
}
