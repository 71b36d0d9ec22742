package event

import "unsafe"

// Host imports (module taubyte/sdk): the command a p2p handler runs for.

//go:wasmimport taubyte/sdk getP2PEventCommandSize
func getP2PEventCommandSize(event uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getP2PEventCommand
func getP2PEventCommand(event uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk getP2PEventDataSize
func getP2PEventDataSize(event uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getP2PEventData
func getP2PEventData(event uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk getP2PEventProtocolSize
func getP2PEventProtocolSize(event uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getP2PEventProtocol
func getP2PEventProtocol(event uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk getP2PEventFrom
func getP2PEventFrom(event uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk getP2PEventTo
func getP2PEventTo(event uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk writeP2PResponse
func writeP2PResponse(event uint32, buf unsafe.Pointer, size uint32) uint32
