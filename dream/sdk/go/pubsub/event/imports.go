package event

import "unsafe"

// Host imports (module taubyte/sdk): the message of a pub-sub event.

//go:wasmimport taubyte/sdk getMessageDataSize
func getMessageDataSize(event uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getMessageData
func getMessageData(event uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk getMessageChannelSize
func getMessageChannelSize(event uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getMessageChannel
func getMessageChannel(event uint32, buf unsafe.Pointer) uint32
