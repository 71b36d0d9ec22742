package lib

import (
	"github.com/taubyte/go-sdk/event"
)

// Answers command `say` of /echo/v1 with <protocol> <command> <data> from <sender> on <this node>.
//
//export p2pecho
func p2pecho(e event.Event) uint32 {
	p, err := e.P2P()
	if err != nil {
		return 1
	}
	command, _ := p.Command()
	data, _ := p.Data()
	if string(data) == "boom" {
		panic("boom") // a handler that traps: its sender gets errno 43
	}
	protocol, _ := p.Protocol()
	from, _ := p.From()
	to, _ := p.To()
	p.Write([]byte(protocol + " " + command + " " + string(data) + " from " + from.String() + " on " + to.String()))
	return 0
}
