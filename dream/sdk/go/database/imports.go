package database

import "unsafe"

// Host imports (module taubyte/sdk): the key/value database family. A Go string lowers to (ptr, len).

//go:wasmimport taubyte/sdk newDatabase
func newDatabase(name string, id *uint32) uint32

//go:wasmimport taubyte/sdk databaseGetSize
func databaseGetSize(id uint32, key string, size *uint32) uint32

//go:wasmimport taubyte/sdk databaseGet
func databaseGet(id uint32, key string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk databasePut
func databasePut(id uint32, key string, buf unsafe.Pointer, size uint32) uint32

//go:wasmimport taubyte/sdk databaseDelete
func databaseDelete(id uint32, key string) uint32

//go:wasmimport taubyte/sdk databaseListSize
func databaseListSize(id uint32, prefix string, size *uint32) uint32

//go:wasmimport taubyte/sdk databaseList
func databaseList(id uint32, prefix string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk databaseClose
func databaseClose(id uint32) uint32
