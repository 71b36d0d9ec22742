package event

import "unsafe"

// Host imports (module taubyte/sdk). Signatures use only 32-bit types because gc's `int` is 64-bit
// while the host ABI is all i32; a Go string lowers to (ptr, len) exactly like TinyGo's.

//go:wasmimport taubyte/sdk getHttpEventMethodSize
func getHttpEventMethodSize(eventId uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventMethod
func getHttpEventMethod(eventId uint32, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventHostSize
func getHttpEventHostSize(eventId uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventHost
func getHttpEventHost(eventId uint32, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventPathSize
func getHttpEventPathSize(eventId uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventPath
func getHttpEventPath(eventId uint32, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventUserAgentSize
func getHttpEventUserAgentSize(eventId uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventUserAgent
func getHttpEventUserAgent(eventId uint32, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventHeadersSize
func getHttpEventHeadersSize(eventId uint32, size *uint32, key string) uint32

//go:wasmimport taubyte/sdk getHttpEventHeaders
func getHttpEventHeaders(eventId uint32, key string, buf unsafe.Pointer, size uint32) uint32

// The tau host registers the RequestHeaderKeys names (not go-sdk's stale HeaderVarNameById ones).
//
//go:wasmimport taubyte/sdk getHttpEventRequestHeaderKeysSize
func getHttpEventRequestHeaderKeysSize(eventId uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventRequestHeaderKeys
func getHttpEventRequestHeaderKeys(eventId uint32, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventQueryValueByNameSize
func getHttpEventQueryValueByNameSize(eventId uint32, size *uint32, key string) uint32

//go:wasmimport taubyte/sdk getHttpEventQueryValueByName
func getHttpEventQueryValueByName(eventId uint32, key string, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventRequestQueryKeysSize
func getHttpEventRequestQueryKeysSize(eventId uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getHttpEventRequestQueryKeys
func getHttpEventRequestQueryKeys(eventId uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk readHttpEventBody
func readHttpEventBody(eventId uint32, buf unsafe.Pointer, size uint32, count *uint32) uint32

//go:wasmimport taubyte/sdk closeHttpEventBody
func closeHttpEventBody(eventId uint32) uint32

//go:wasmimport taubyte/sdk eventHttpHeaderAdd
func eventHttpHeaderAdd(eventId uint32, key string, value string) uint32

//go:wasmimport taubyte/sdk eventHttpRetCode
func eventHttpRetCode(eventId uint32, code uint32) uint32

//go:wasmimport taubyte/sdk eventHttpWrite
func eventHttpWrite(eventId uint32, buf unsafe.Pointer, size uint32, n *uint32) uint32

//go:wasmimport taubyte/sdk eventHttpFlush
func eventHttpFlush(eventId uint32) uint32

//go:wasmimport taubyte/sdk eventHttpRedirect
func eventHttpRedirect(eventId uint32, url string, code uint32) uint32
