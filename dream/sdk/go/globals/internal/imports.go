package internal

import "unsafe"

// Host imports (module taubyte/sdk): the globals family. application and function are 1 to scope the
// value to the calling function's application and/or the function itself.

//go:wasmimport taubyte/sdk getGlobalValueSize
func getGlobalValueSize(name string, application, function uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getOrCreateGlobalValueSize
func getOrCreateGlobalValueSize(name string, application, function uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk getGlobalValue
func getGlobalValue(name string, application, function uint32, buf unsafe.Pointer) uint32

// The value crosses as a Go slice does under TinyGo: pointer, length, capacity.
//
//go:wasmimport taubyte/sdk putGlobalValue
func putGlobalValue(name string, application, function uint32, buf unsafe.Pointer, size, capacity uint32) uint32
