package self

import "unsafe"

// Host imports (module taubyte/sdk): the self family.

//go:wasmimport taubyte/sdk selfProjectSize
func selfProjectSize(size *uint32) uint32

//go:wasmimport taubyte/sdk selfProject
func selfProject(buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk selfApplicationSize
func selfApplicationSize(size *uint32) uint32

//go:wasmimport taubyte/sdk selfApplication
func selfApplication(buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk selfIdSize
func selfIdSize(size *uint32) uint32

//go:wasmimport taubyte/sdk selfId
func selfId(buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk selfBranchSize
func selfBranchSize(size *uint32) uint32

//go:wasmimport taubyte/sdk selfBranch
func selfBranch(buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk selfCommitSize
func selfCommitSize(size *uint32) uint32

//go:wasmimport taubyte/sdk selfCommit
func selfCommit(buf unsafe.Pointer) uint32
