package node

import "unsafe"

// Host imports (module taubyte/sdk): publishing, subscribing, websocket paths.

//go:wasmimport taubyte/sdk setSubscriptionChannel
func setSubscriptionChannel(channel string) uint32

//go:wasmimport taubyte/sdk publishToChannel
func publishToChannel(channel string, data unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk getWebSocketURLSize
func getWebSocketURLSize(channel string, size *uint32) uint32

//go:wasmimport taubyte/sdk getWebSocketURL
func getWebSocketURL(channel string, buf unsafe.Pointer) uint32
