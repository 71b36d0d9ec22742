// Package f32 is a global value of type float32, kept per project (see the scope package for narrower scopes).
package f32

import (
	"encoding/binary"
	"math"

	"github.com/taubyte/go-sdk/globals/internal"
)

// Float32 is a float32 global value.
type Float32 internal.Value[float32]

var codec = internal.Codec[float32]{
	Key: "float32",
	ToBase: func(b []byte) (float32, error) {
		return math.Float32frombits(binary.BigEndian.Uint32(b)), nil
	},
	ToBytes: func(v float32) ([]byte, error) {
		return binary.BigEndian.AppendUint32(nil, math.Float32bits(v)), nil
	},
}

// Get reads the value stored as name (an error, and the zero value, when there is none).
func Get(name string, scope ...internal.Option) (Float32, error) {
	return internal.Get(codec, name, scope)
}

// GetOrCreate reads the value stored as name, creating it (zero) when there is none.
func GetOrCreate(name string, scope ...internal.Option) (Float32, error) {
	return internal.GetOrCreate(codec, name, scope)
}
