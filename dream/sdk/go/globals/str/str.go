// Package str is a global value of type string, kept per project (see the scope package for narrower scopes).
package str

import (
	"github.com/taubyte/go-sdk/globals/internal"
)

// String is a string global value.
type String internal.Value[string]

var codec = internal.Codec[string]{
	Key: "string",
	ToBase: func(b []byte) (string, error) {
		return string(b), nil
	},
	ToBytes: func(v string) ([]byte, error) {
		return []byte(v), nil
	},
}

// Get reads the value stored as name (an error, and the zero value, when there is none).
func Get(name string, scope ...internal.Option) (String, error) {
	return internal.Get(codec, name, scope)
}

// GetOrCreate reads the value stored as name, creating it (zero) when there is none.
func GetOrCreate(name string, scope ...internal.Option) (String, error) {
	return internal.GetOrCreate(codec, name, scope)
}
