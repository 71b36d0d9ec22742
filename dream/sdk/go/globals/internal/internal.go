// Package internal holds what the typed globals packages (u32, u64, f32, f64, str) share: a named value
// of some scope, read and written through the host's globals family.
package internal

import (
	"path"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

// Instance is the scope of a value: Application and Function are 1 when the value belongs to them.
type Instance struct {
	Application uint32
	Function    uint32
}

// Option sets a scope (see the scope package).
type Option func(i *Instance)

func instance(scope ...Option) *Instance {
	i := &Instance{}
	for _, opt := range scope {
		opt(i)
	}
	return i
}

func fail(what, name string, code uint32) error {
	return wrap.Error(what+" `"+name+"` failed with", errno.Error(code))
}

func (i *Instance) read(name string, size uint32) ([]byte, error) {
	if size == 0 {
		return []byte{}, nil
	}
	data := make([]byte, size)
	if code := getGlobalValue(name, i.Application, i.Function, unsafe.Pointer(&data[0])); code != 0 {
		return nil, fail("getting global value", name, code)
	}
	return data, nil
}

// Get returns the value stored as name; an error wrapping errno.ErrorDatabaseKeyNotFound when absent.
func (i *Instance) Get(name string) ([]byte, error) {
	var size uint32
	if code := getGlobalValueSize(name, i.Application, i.Function, &size); code != 0 {
		return nil, fail("getting global value size of", name, code)
	}
	return i.read(name, size)
}

// GetOrCreate returns the value stored as name, creating it empty when absent.
func (i *Instance) GetOrCreate(name string) ([]byte, error) {
	var size uint32
	if code := getOrCreateGlobalValueSize(name, i.Application, i.Function, &size); code != 0 {
		return nil, fail("getting or creating global value", name, code)
	}
	return i.read(name, size)
}

// Put stores value as name.
func (i *Instance) Put(name string, value []byte) error {
	var ptr unsafe.Pointer
	if len(value) != 0 {
		ptr = unsafe.Pointer(&value[0])
	}
	if code := putGlobalValue(name, i.Application, i.Function, ptr, uint32(len(value)), uint32(cap(value))); code != 0 {
		return fail("putting global value", name, code)
	}
	return nil
}

// Base is a typed global value: Key names its type (`uint32`, `string`, ...) in the stored path.
type Base[T any] struct {
	value T

	Name    string
	Key     string
	ToBase  func([]byte) (T, error)
	ToBytes func(T) ([]byte, error)
	Scope   []Option
}

func (b *Base[T]) path() string { return path.Join("/"+b.Key, b.Name) }

func (b *Base[T]) parse(read func(string) ([]byte, error)) error {
	data, err := read(b.path())
	if len(data) == 0 {
		b.value = *new(T)
		return err
	}
	b.value, err = b.ToBase(data)
	return err
}

// Value is the value as last read or set.
func (b *Base[T]) Value() T { return b.value }

// Get reads the value (the zero value and an error when it does not exist).
func (b *Base[T]) Get() error { return b.parse(instance(b.Scope...).Get) }

// GetOrCreate reads the value, creating it (zero) when it does not exist.
func (b *Base[T]) GetOrCreate() error { return b.parse(instance(b.Scope...).GetOrCreate) }

// Set stores v.
func (b *Base[T]) Set(v T) error {
	b.value = v
	data, err := b.ToBytes(v)
	if err != nil {
		return err
	}
	if err := instance(b.Scope...).Put(b.path(), data); err != nil {
		return err
	}
	return b.Get()
}

// Value is what every typed global offers.
type Value[T any] interface {
	Value() T
	Set(v T) error
}

// Codec is how one type of global value is stored: Key names the type in the stored path.
type Codec[T any] struct {
	Key     string
	ToBase  func([]byte) (T, error)
	ToBytes func(T) ([]byte, error)
}

func (c Codec[T]) base(name string, scope []Option) *Base[T] {
	return &Base[T]{Name: name, Key: c.Key, ToBase: c.ToBase, ToBytes: c.ToBytes, Scope: scope}
}

// Get reads the value of type T stored as name (an error, and the zero value, when there is none).
func Get[T any](c Codec[T], name string, scope []Option) (*Base[T], error) {
	b := c.base(name, scope)
	return b, b.Get()
}

// GetOrCreate reads the value of type T stored as name, creating it (zero) when there is none.
func GetOrCreate[T any](c Codec[T], name string, scope []Option) (*Base[T], error) {
	b := c.base(name, scope)
	return b, b.GetOrCreate()
}
