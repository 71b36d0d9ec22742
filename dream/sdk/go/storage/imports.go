package storage

import "unsafe"

// Host imports (module taubyte/sdk): the storage family. A Go string lowers to (ptr, len).

//go:wasmimport taubyte/sdk storageNew
func storageNew(name string, id *uint32) uint32

//go:wasmimport taubyte/sdk storageGet
func storageGet(name string, id *uint32) uint32

//go:wasmimport taubyte/sdk storageAddFile
func storageAddFile(id uint32, name string, version *uint32, buf unsafe.Pointer, size uint32, overwrite uint32) uint32

//go:wasmimport taubyte/sdk storageGetFile
func storageGetFile(id uint32, name string, version uint32, fd *uint32) uint32

//go:wasmimport taubyte/sdk storageReadFile
func storageReadFile(id uint32, fd uint32, buf unsafe.Pointer, size uint32, count *uint32) uint32

//go:wasmimport taubyte/sdk storageCloseFile
func storageCloseFile(id uint32, fd uint32) uint32

//go:wasmimport taubyte/sdk storageDeleteFile
func storageDeleteFile(id uint32, name string, version uint32, all uint32) uint32

//go:wasmimport taubyte/sdk storageListVersionsSize
func storageListVersionsSize(id uint32, name string, size *uint32) uint32

//go:wasmimport taubyte/sdk storageListVersions
func storageListVersions(id uint32, name string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk storageListFilesSize
func storageListFilesSize(id uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk storageListFiles
func storageListFiles(id uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk storageCid
func storageCid(id uint32, name string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk storageCurrentVersionSize
func storageCurrentVersionSize(id uint32, name string, size *uint32) uint32

//go:wasmimport taubyte/sdk storageCurrentVersion
func storageCurrentVersion(name string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk storageUsedSize
func storageUsedSize(id uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk storageUsed
func storageUsed(id uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk storageCapacitySize
func storageCapacitySize(id uint32, size *uint32) uint32

//go:wasmimport taubyte/sdk storageCapacity
func storageCapacity(id uint32, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk storageNewContent
func storageNewContent(id *uint32) uint32

//go:wasmimport taubyte/sdk storageOpenCid
func storageOpenCid(id *uint32, cid unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk contentWriteFile
func contentWriteFile(id uint32, buf unsafe.Pointer, size uint32, n *uint32) uint32

//go:wasmimport taubyte/sdk contentReadFile
func contentReadFile(id uint32, buf unsafe.Pointer, size uint32, count *uint32) uint32

//go:wasmimport taubyte/sdk contentSeekFile
func contentSeekFile(id uint32, offset int64, whence uint32, position *uint32) uint32

//go:wasmimport taubyte/sdk contentFileCid
func contentFileCid(id uint32, cid unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk contentPushFile
func contentPushFile(id uint32, cid unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk contentCloseFile
func contentCloseFile(id uint32) uint32
