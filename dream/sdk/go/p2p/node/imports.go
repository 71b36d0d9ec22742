package node

import "unsafe"

// Host imports (module taubyte/sdk): p2p commands, discovery, listening.

//go:wasmimport taubyte/sdk newCommand
func newCommand(protocol string, command string, id *uint32) uint32

//go:wasmimport taubyte/sdk sendCommand
func sendCommand(id uint32, data unsafe.Pointer, size uint32, responseSize *uint32) uint32

//go:wasmimport taubyte/sdk sendCommandTo
func sendCommandTo(id uint32, cid unsafe.Pointer, data unsafe.Pointer, size uint32, responseSize *uint32) uint32

//go:wasmimport taubyte/sdk readCommandResponse
func readCommandResponse(id uint32, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk discoverPeersSize
func discoverPeersSize(max uint32, nsTimeout uint32, id *uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk discoverPeers
func discoverPeers(id uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk listenToProtocolSize
func listenToProtocolSize(protocol string, size *uint32) uint32

//go:wasmimport taubyte/sdk listenToProtocol
func listenToProtocol(protocol string, buf unsafe.Pointer, size uint32) uint32
