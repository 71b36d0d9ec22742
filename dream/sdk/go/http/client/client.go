// Package client makes HTTP requests from a function:
//
//	c, _ := client.New()
//	req, _ := c.Request("https://example.com/api", client.Method("POST"), client.Body(data),
//		client.Headers(map[string][]string{"Content-Type": {"application/json"}}))
//	resp, err := req.Do()
//	body, _ := io.ReadAll(resp.Body())
//
// The request is bounded by the function's own timeout. A name the universe serves (a generated
// domain, a project's domain) reaches its function directly.
package client

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

// HttpClient is a client handle (valid for the rest of the call).
type HttpClient uint32

// HttpRequest is a request made by a client.
type HttpRequest struct {
	id     uint32
	client HttpClient
}

// HttpRequestOption sets something on a new request.
type HttpRequestOption func(HttpRequest) error

type HttpRequestMethod HttpRequest
type HttpRequestHeaders HttpRequest
type HttpRequestBody HttpRequest

// HttpResponse is the answer to a request that was done.
type HttpResponse struct {
	request *HttpRequest
}

type HttpResponseBody HttpResponse
type HttpResponseHeaders HttpResponse

// HttpMethod is the host's method enum.
type HttpMethod uint32

const (
	UNKNOWN HttpMethod = iota
	GET
	POST
	PUT
	DELETE
	HEAD
	OPTIONS
	PATCH
	TRACE
	CONNECT
)

var methodNames = []string{"", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT"}

func fail(what string, code uint32) error {
	return wrap.Error(what+" failed with", errno.Error(code))
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// New makes a client.
func New() (HttpClient, error) {
	var id uint32
	if code := newHttpClient(&id); code != 0 {
		return 0, fail("creating a new http client", code)
	}
	return HttpClient(id), nil
}

// Request makes a request to url, with options (Method, Headers, Body).
func (c HttpClient) Request(url string, options ...HttpRequestOption) (HttpRequest, error) {
	var id uint32
	if code := newHttpRequest(uint32(c), &id); code != 0 {
		return HttpRequest{}, fail("creating a new http request", code)
	}
	r := HttpRequest{client: c, id: id}
	if code := setHttpRequestURL(uint32(c), id, url); code != 0 {
		return HttpRequest{}, fail("setting the request url", code)
	}
	for _, option := range options {
		if err := option(r); err != nil {
			return HttpRequest{}, err
		}
	}
	return r, nil
}

// Method sets the request's method ("GET", "POST", ...).
func Method(method string) HttpRequestOption {
	return func(r HttpRequest) error { return r.Method().Set(method) }
}

// Headers sets the request's headers.
func Headers(headers map[string][]string) HttpRequestOption {
	return func(r HttpRequest) error {
		for k, v := range headers {
			if err := r.Headers().Set(k, v...); err != nil {
				return err
			}
		}
		return nil
	}
}

// Body sets the request's body.
func Body(data []byte) HttpRequestOption {
	return func(r HttpRequest) error { return r.Body().Set(data) }
}

// Do sends the request and waits for the response's head.
func (r *HttpRequest) Do() (*HttpResponse, error) {
	if code := doHttpRequest(uint32(r.client), r.id); code != 0 {
		return nil, fail("executing HTTP request", code)
	}
	return &HttpResponse{r}, nil
}

func (r *HttpRequest) Method() *HttpRequestMethod   { return (*HttpRequestMethod)(r) }
func (r *HttpRequest) Headers() *HttpRequestHeaders { return (*HttpRequestHeaders)(r) }
func (r *HttpRequest) Body() *HttpRequestBody       { return (*HttpRequestBody)(r) }

// Set sets the method.
func (m *HttpRequestMethod) Set(method string) error {
	for i, name := range methodNames {
		if i > 0 && name == strings.ToUpper(method) {
			if code := setHttpRequestMethod(uint32(m.client), m.id, uint32(i)); code != 0 {
				return fail("setting HTTP request method", code)
			}
			return nil
		}
	}
	return errors.New("unknown HTTP method " + strconv.Quote(method))
}

// Get returns the method.
func (m *HttpRequestMethod) Get() (string, error) {
	var method uint32
	if code := getHttpRequestMethod(uint32(m.client), m.id, &method); code != 0 {
		return "", fail("getting HTTP request method", code)
	}
	if method == 0 || int(method) >= len(methodNames) {
		return "", errors.New("unknown HTTP method " + strconv.FormatUint(uint64(method), 10))
	}
	return methodNames[method], nil
}

// Set sets the body.
func (b *HttpRequestBody) Set(data []byte) error {
	if code := setHttpRequestBody(uint32(b.client), b.id, ptr(data), uint32(len(data))); code != 0 {
		return fail("setting HTTP request body", code)
	}
	return nil
}

func encodeList(values []string) []byte {
	var out []byte
	for _, v := range values {
		out = append(out, v...)
		out = append(out, 0)
	}
	return out
}

func decodeList(raw []byte) []string {
	parts := strings.Split(string(raw), "\x00")
	if len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// Set replaces the header's values (no values: nothing is done).
func (h *HttpRequestHeaders) Set(key string, values ...string) error {
	if len(values) == 0 {
		return nil
	}
	raw := encodeList(values)
	if code := setHttpRequestHeader(uint32(h.client), h.id, key, ptr(raw), uint32(len(raw))); code != 0 {
		return fail("setting header "+key, code)
	}
	return nil
}

// Add adds a value to the header.
func (h *HttpRequestHeaders) Add(key, value string) error {
	if code := addHttpRequestHeader(uint32(h.client), h.id, key, value); code != 0 {
		return fail("adding header "+key, code)
	}
	return nil
}

// Delete removes the header.
func (h *HttpRequestHeaders) Delete(key string) error {
	if code := deleteHttpRequestHeader(uint32(h.client), h.id, key); code != 0 {
		return fail("deleting header "+key, code)
	}
	return nil
}

type sizeFn func(client, request uint32, key string, size *uint32) uint32
type dataFn func(client, request uint32, key string, buf unsafe.Pointer) uint32
type keysSizeFn func(client, request uint32, size *uint32) uint32
type keysFn func(client, request uint32, buf unsafe.Pointer, size uint32) uint32

func getHeader(r *HttpRequest, key string, size sizeFn, data dataFn) ([]string, error) {
	var n uint32
	if code := size(uint32(r.client), r.id, key, &n); code != 0 {
		return nil, fail("getting header size of "+key, code)
	}
	if n == 0 {
		return []string{}, nil
	}
	buf := make([]byte, n)
	if code := data(uint32(r.client), r.id, key, ptr(buf)); code != 0 {
		return nil, fail("getting header "+key, code)
	}
	return decodeList(buf), nil
}

func listHeaders(r *HttpRequest, size keysSizeFn, data keysFn) ([]string, error) {
	var n uint32
	if code := size(uint32(r.client), r.id, &n); code != 0 {
		return nil, fail("getting header keys size", code)
	}
	if n == 0 {
		return []string{}, nil
	}
	buf := make([]byte, n)
	if code := data(uint32(r.client), r.id, ptr(buf), n); code != 0 {
		return nil, fail("getting header keys", code)
	}
	return decodeList(buf), nil
}

// Get returns the header's values.
func (h *HttpRequestHeaders) Get(key string) ([]string, error) {
	return getHeader((*HttpRequest)(h), key, getHttpRequestHeaderSize, getHttpRequestHeader)
}

// List returns the names of the headers set.
func (h *HttpRequestHeaders) List() ([]string, error) {
	return listHeaders((*HttpRequest)(h), getHttpRequestHeaderKeysSize, getHttpRequestHeaderKeys)
}

// GetAll returns every header set.
func (h *HttpRequestHeaders) GetAll() (map[string][]string, error) {
	return all(h.List, h.Get)
}

func all(list func() ([]string, error), get func(string) ([]string, error)) (map[string][]string, error) {
	keys, err := list()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(keys))
	for _, k := range keys {
		if out[k], err = get(k); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Body is the response's body, read in chunks from the host.
func (resp *HttpResponse) Body() *HttpResponseBody { return (*HttpResponseBody)(resp) }

// Headers are the response's headers.
func (resp *HttpResponse) Headers() *HttpResponseHeaders { return (*HttpResponseHeaders)(resp) }

func (b *HttpResponseBody) Read(p []byte) (int, error) {
	var n uint32
	code := readHttpResponseBody(uint32(b.request.client), b.request.id, ptr(p), uint32(len(p)), &n)
	if code == uint32(errno.ErrorEOF) {
		return int(n), io.EOF
	}
	if code != 0 {
		return 0, fail("reading HTTP response body", code)
	}
	return int(n), nil
}

func (b *HttpResponseBody) Close() error {
	if code := closeHttpResponseBody(uint32(b.request.client), b.request.id); code != 0 {
		return fail("closing HTTP response body", code)
	}
	return nil
}

// Get returns the response header's values.
func (h *HttpResponseHeaders) Get(key string) ([]string, error) {
	return getHeader(h.request, key, getHttpResponseHeaderSize, getHttpResponseHeader)
}

// List returns the response's header names.
func (h *HttpResponseHeaders) List() ([]string, error) {
	return listHeaders(h.request, getHttpResponseHeaderKeysSize, getHttpResponseHeaderKeys)
}

// GetAll returns every response header.
func (h *HttpResponseHeaders) GetAll() (map[string][]string, error) {
	return all(h.List, h.Get)
}
