package event

// Host import (module taubyte/sdk); gc lowers *uint32 to an i32 pointer like TinyGo did.
//
//go:wasmimport taubyte/sdk getEventType
func getEventType(eventId uint32, typePtr *uint32)
