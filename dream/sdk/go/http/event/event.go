// Package event is the HTTP side of an event: request accessors and the response writer.
package event

import (
	"errors"
	"io"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
)

// Event is an HTTP event id (obtained from event.Event.HTTP()).
type Event uint32

func bufPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// readString runs the host's size-then-data protocol for a request attribute.
func (e Event) readString(sizeFn func(uint32, *uint32) uint32, dataFn func(uint32, unsafe.Pointer, uint32) uint32) (string, error) {
	var size uint32
	if err := errno.Err(sizeFn(uint32(e), &size)); err != nil {
		return "", err
	}
	if size == 0 {
		return "", errno.ErrorZeroSize
	}
	buf := make([]byte, size)
	if err := errno.Err(dataFn(uint32(e), bufPtr(buf), size)); err != nil {
		return "", err
	}
	return string(buf), nil
}

// Method returns the request method, e.g. "GET".
func (e Event) Method() (string, error) {
	return e.readString(getHttpEventMethodSize, getHttpEventMethod)
}

// Host returns the Host the request was sent to (may include the port).
func (e Event) Host() (string, error) { return e.readString(getHttpEventHostSize, getHttpEventHost) }

// Path returns the decoded URL path, without the query string.
func (e Event) Path() (string, error) { return e.readString(getHttpEventPathSize, getHttpEventPath) }

// UserAgent returns the User-Agent request header.
func (e Event) UserAgent() (string, error) {
	return e.readString(getHttpEventUserAgentSize, getHttpEventUserAgent)
}

// Write appends data to the response body.
func (e Event) Write(data []byte) (int, error) {
	var n uint32
	err := errno.Err(eventHttpWrite(uint32(e), bufPtr(data), uint32(len(data)), &n))
	return int(n), err
}

// Return sets the response status code (write the body first, then Return, like upstream).
func (e Event) Return(code int) error {
	if code < 100 || code > 999 {
		return errors.New("http status code must be between 100 and 999")
	}
	return errno.Err(eventHttpRetCode(uint32(e), uint32(code)))
}

// Flush asks the host to flush the response (ignored by hosts that buffer).
func (e Event) Flush() { eventHttpFlush(uint32(e)) }

// Body returns the request body; read it to EOF and Close it.
func (e Event) Body() io.ReadCloser { return Body(e) }

// Headers gives access to request headers (Get/List) and response headers (Set).
func (e Event) Headers() Headers { return Headers(e) }

// Query gives access to the URL query parameters.
func (e Event) Query() Query { return Query(e) }

// Redirect prepares a redirect to url; finish it with Temporary(), Permanent() or Code(n).
func (e Event) Redirect(url string) Redirect { return Redirect{event: e, url: url} }

// Body reads the request body through the host.
type Body Event

func (b Body) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uint32
	code := readHttpEventBody(uint32(b), bufPtr(p), uint32(len(p)), &n)
	if errno.Error(code) == errno.ErrorEOF {
		return int(n), io.EOF
	}
	return int(n), errno.Err(code)
}

func (b Body) Close() error { return errno.Err(closeHttpEventBody(uint32(b))) }

// Headers are request headers (read) and response headers (Set adds one).
type Headers Event

// Get returns the first value of a request header ("" when absent).
func (h Headers) Get(key string) (string, error) {
	var size uint32
	if err := errno.Err(getHttpEventHeadersSize(uint32(h), &size, key)); err != nil {
		return "", err
	}
	if size == 0 {
		return "", nil
	}
	buf := make([]byte, size)
	if err := errno.Err(getHttpEventHeaders(uint32(h), key, bufPtr(buf), size)); err != nil {
		return "", err
	}
	return string(buf), nil
}

// Set adds a response header.
func (h Headers) Set(key, value string) error {
	return errno.Err(eventHttpHeaderAdd(uint32(h), key, value))
}

// List returns the names of the request headers.
func (h Headers) List() ([]string, error) {
	var size uint32
	if err := errno.Err(getHttpEventRequestHeaderKeysSize(uint32(h), &size)); err != nil {
		return nil, err
	}
	if size == 0 {
		return []string{}, nil
	}
	buf := make([]byte, size)
	if err := errno.Err(getHttpEventRequestHeaderKeys(uint32(h), bufPtr(buf), size)); err != nil {
		return nil, err
	}
	return splitNul(buf), nil
}

// Query reads URL query parameters.
type Query Event

// Get returns the first value of query parameter key ("" when absent).
func (q Query) Get(key string) (string, error) {
	var size uint32
	if err := errno.Err(getHttpEventQueryValueByNameSize(uint32(q), &size, key)); err != nil {
		return "", err
	}
	if size == 0 {
		return "", nil
	}
	buf := make([]byte, size)
	if err := errno.Err(getHttpEventQueryValueByName(uint32(q), key, bufPtr(buf), size)); err != nil {
		return "", err
	}
	return string(buf), nil
}

// List returns the names of the query parameters.
func (q Query) List() ([]string, error) {
	var size uint32
	if err := errno.Err(getHttpEventRequestQueryKeysSize(uint32(q), &size)); err != nil {
		return nil, err
	}
	if size == 0 {
		return []string{}, nil
	}
	buf := make([]byte, size)
	if err := errno.Err(getHttpEventRequestQueryKeys(uint32(q), bufPtr(buf))); err != nil {
		return nil, err
	}
	return splitNul(buf), nil
}

// splitNul decodes the host's string-list encoding: every item is followed by a 0x00 byte.
func splitNul(buf []byte) []string {
	out := []string{}
	start := 0
	for i, c := range buf {
		if c == 0 {
			out = append(out, string(buf[start:i]))
			start = i + 1
		}
	}
	if start < len(buf) {
		out = append(out, string(buf[start:]))
	}
	return out
}

// Redirect is a pending redirect response.
type Redirect struct {
	event Event
	url   string
}

// Temporary redirects with 307.
func (r Redirect) Temporary() error { return r.Code(307) }

// Permanent redirects with 308.
func (r Redirect) Permanent() error { return r.Code(308) }

// Code redirects with a caller-chosen status.
func (r Redirect) Code(code int) error {
	return errno.Err(eventHttpRedirect(uint32(r.event), r.url, uint32(code)))
}
