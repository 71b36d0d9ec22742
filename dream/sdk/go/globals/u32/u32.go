// Package u32 is a global value of type uint32, kept per project (see the scope package for narrower scopes).
package u32

import (
	"encoding/binary"

	"github.com/taubyte/go-sdk/globals/internal"
)

// Uint32 is a uint32 global value.
type Uint32 internal.Value[uint32]

var codec = internal.Codec[uint32]{
	Key: "uint32",
	ToBase: func(b []byte) (uint32, error) {
		return binary.BigEndian.Uint32(b), nil
	},
	ToBytes: func(v uint32) ([]byte, error) {
		return binary.BigEndian.AppendUint32(nil, v), nil
	},
}

// Get reads the value stored as name (an error, and the zero value, when there is none).
func Get(name string, scope ...internal.Option) (Uint32, error) {
	return internal.Get(codec, name, scope)
}

// GetOrCreate reads the value stored as name, creating it (zero) when there is none.
func GetOrCreate(name string, scope ...internal.Option) (Uint32, error) {
	return internal.GetOrCreate(codec, name, scope)
}
