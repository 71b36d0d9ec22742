package client

import "unsafe"

// Host imports (module taubyte/sdk): the HTTP client family. A Go string lowers to (ptr, len).

//go:wasmimport taubyte/sdk newHttpClient
func newHttpClient(id *uint32) uint32

//go:wasmimport taubyte/sdk newHttpRequest
func newHttpRequest(client uint32, id *uint32) uint32

//go:wasmimport taubyte/sdk setHttpRequestURL
func setHttpRequestURL(client, request uint32, url string) uint32

//go:wasmimport taubyte/sdk setHttpRequestMethod
func setHttpRequestMethod(client, request, method uint32) uint32

//go:wasmimport taubyte/sdk getHttpRequestMethod
func getHttpRequestMethod(client, request uint32, method *uint32) uint32

//go:wasmimport taubyte/sdk setHttpRequestBody
func setHttpRequestBody(client, request uint32, data unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk setHttpRequestHeader
func setHttpRequestHeader(client, request uint32, key string, values unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk addHttpRequestHeader
func addHttpRequestHeader(client, request uint32, key string, value string) uint32

//go:wasmimport taubyte/sdk deleteHttpRequestHeader
func deleteHttpRequestHeader(client, request uint32, key string) uint32

//go:wasmimport taubyte/sdk getHttpRequestHeaderSize
func getHttpRequestHeaderSize(client, request uint32, key string, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpRequestHeader
func getHttpRequestHeader(client, request uint32, key string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk getHttpRequestHeaderKeysSize
func getHttpRequestHeaderKeysSize(client, request uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpRequestHeaderKeys
func getHttpRequestHeaderKeys(client, request uint32, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk doHttpRequest
func doHttpRequest(client, request uint32) uint32

//go:wasmimport taubyte/sdk readHttpResponseBody
func readHttpResponseBody(client, request uint32, buf unsafe.Pointer, size uint32, count *uint32) uint32

//go:wasmimport taubyte/sdk closeHttpResponseBody
func closeHttpResponseBody(client, request uint32) uint32

//go:wasmimport taubyte/sdk getHttpResponseHeaderSize
func getHttpResponseHeaderSize(client, request uint32, key string, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpResponseHeader
func getHttpResponseHeader(client, request uint32, key string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk getHttpResponseHeaderKeysSize
func getHttpResponseHeaderKeysSize(client, request uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpResponseHeaderKeys
func getHttpResponseHeaderKeys(client, request uint32, buf unsafe.Pointer, size uint32) uint32
