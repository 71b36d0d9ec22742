// Package u64 is a global value of type uint64, kept per project (see the scope package for narrower scopes).
package u64

import (
	"encoding/binary"

	"github.com/taubyte/go-sdk/globals/internal"
)

// Uint64 is a uint64 global value.
type Uint64 internal.Value[uint64]

var codec = internal.Codec[uint64]{
	Key: "uint64",
	ToBase: func(b []byte) (uint64, error) {
		return binary.BigEndian.Uint64(b), nil
	},
	ToBytes: func(v uint64) ([]byte, error) {
		return binary.BigEndian.AppendUint64(nil, v), nil
	},
}

// Get reads the value stored as name (an error, and the zero value, when there is none).
func Get(name string, scope ...internal.Option) (Uint64, error) {
	return internal.Get(codec, name, scope)
}

// GetOrCreate reads the value stored as name, creating it (zero) when there is none.
func GetOrCreate(name string, scope ...internal.Option) (Uint64, error) {
	return internal.GetOrCreate(codec, name, scope)
}
