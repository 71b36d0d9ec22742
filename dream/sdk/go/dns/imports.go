package dns

import "unsafe"

// Host imports (module taubyte/sdk): the DNS resolver family.

//go:wasmimport taubyte/sdk dnsNewResolver
func dnsNewResolver(id *uint32) uint32

//go:wasmimport taubyte/sdk dnsRerouteResolver
func dnsRerouteResolver(id uint32, address string, network string) uint32

//go:wasmimport taubyte/sdk dnsResetResolver
func dnsResetResolver(id uint32) uint32

//go:wasmimport taubyte/sdk dnsLookupTxTSize
func dnsLookupTxTSize(id uint32, name string, size *uint32) uint32

//go:wasmimport taubyte/sdk dnsLookupTxT
func dnsLookupTxT(id uint32, name string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk dnsLookupAddressSize
func dnsLookupAddressSize(id uint32, name string, size *uint32) uint32

//go:wasmimport taubyte/sdk dnsLookupAddress
func dnsLookupAddress(id uint32, name string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk dnsLookupCNAMESize
func dnsLookupCNAMESize(id uint32, name string, size *uint32) uint32

//go:wasmimport taubyte/sdk dnsLookupCNAME
func dnsLookupCNAME(id uint32, name string, buf unsafe.Pointer) uint32

//go:wasmimport taubyte/sdk dnsLookupMXSize
func dnsLookupMXSize(id uint32, name string, size *uint32) uint32

//go:wasmimport taubyte/sdk dnsLookupMX
func dnsLookupMX(id uint32, name string, buf unsafe.Pointer) uint32
