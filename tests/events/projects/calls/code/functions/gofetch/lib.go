package lib

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/taubyte/go-sdk/event"
	"github.com/taubyte/go-sdk/http/client"
)

// POST /fetch?url=<url>&method=<method>: sends the request body to url with the go-sdk HTTP client,
// with headers X-Test: a, b and X-Single: one, and answers with the response's X-Reply values, its
// header names and its body (read in 1000-byte chunks).
//
//export gofetch
func gofetch(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	url, _ := h.Query().Get("url")
	method, _ := h.Query().Get("method")
	body, _ := io.ReadAll(h.Body())

	c, err := client.New()
	if err != nil {
		return fail(h, err)
	}
	req, err := c.Request(url, client.Method(method), client.Body(body),
		client.Headers(map[string][]string{"X-Test": {"a", "b"}}))
	if err != nil {
		return fail(h, err)
	}
	if err := req.Headers().Add("x-single", "one"); err != nil {
		return fail(h, err)
	}
	got, _ := req.Method().Get()
	resp, err := req.Do()
	if err != nil {
		return fail(h, err)
	}
	reply, err := resp.Headers().Get("x-reply")
	if err != nil {
		return fail(h, err)
	}
	names, _ := resp.Headers().List()
	sort.Strings(names)
	var out []byte
	buf := make([]byte, 1000)
	chunks := 0
	for {
		n, err := resp.Body().Read(buf)
		out = append(out, buf[:n]...)
		chunks++
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(h, err)
		}
	}
	resp.Body().Close()
	h.Write([]byte(fmt.Sprintf("%s\n%s\n%s\n%d\n", got, strings.Join(reply, ","), strings.Join(names, ","), chunks)))
	h.Write(out)
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
