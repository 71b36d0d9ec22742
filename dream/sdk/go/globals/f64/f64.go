// Package f64 is a global value of type float64, kept per project (see the scope package for narrower scopes).
package f64

import (
	"encoding/binary"
	"math"

	"github.com/taubyte/go-sdk/globals/internal"
)

// Float64 is a float64 global value.
type Float64 internal.Value[float64]

var codec = internal.Codec[float64]{
	Key: "float64",
	ToBase: func(b []byte) (float64, error) {
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	},
	ToBytes: func(v float64) ([]byte, error) {
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(v)), nil
	},
}

// Get reads the value stored as name (an error, and the zero value, when there is none).
func Get(name string, scope ...internal.Option) (Float64, error) {
	return internal.Get(codec, name, scope)
}

// GetOrCreate reads the value stored as name, creating it (zero) when there is none.
func GetOrCreate(name string, scope ...internal.Option) (Float64, error) {
	return internal.GetOrCreate(codec, name, scope)
}
