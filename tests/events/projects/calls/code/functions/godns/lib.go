package lib

import (
	"fmt"
	"strings"

	"github.com/taubyte/go-sdk/dns"
	"github.com/taubyte/go-sdk/event"
)

// GET /dns?kind=<txt|cname|mx|address>&name=<name>[&server=<host:port>]: the answers, one per line.
//
//export godns
func godns(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	kind, _ := h.Query().Get("kind")
	name, _ := h.Query().Get("name")
	server, _ := h.Query().Get("server")
	r, err := dns.NewResolver()
	if err == nil && server != "" {
		err = r.Reroute(server, "udp")
	}
	var out []string
	if err == nil {
		switch kind {
		case "txt":
			out, err = r.LookupTXT(name)
		case "address":
			out, err = r.LookupAddress(name)
		case "cname":
			var cname string
			cname, err = r.LookupCNAME(name)
			out = []string{cname}
		case "mx":
			var mx []*dns.MxResp
			mx, err = r.LookupMX(name)
			for _, m := range mx {
				out = append(out, fmt.Sprintf("%s %d", m.Host, m.Pref))
			}
		}
	}
	if err != nil {
		h.Write([]byte(err.Error()))
		h.Return(502)
		return 0
	}
	h.Write([]byte(strings.Join(out, "\n")))
	h.Return(200)
	return 0
}
