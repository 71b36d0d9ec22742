// Package database is the key/value database of a function's project: `database.New("/users")` opens
// the database whose `match` fits the name (an exact path, or a regex with useRegex).
//
// Errors wrap the host's errno.Error, so `errors.Is(err, errno.ErrorDatabaseKeyNotFound)` tells a
// missing key from a failure.
package database

import (
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

// Database is an opened database (a handle valid for the rest of the call).
type Database uint32

func fail(what string, code uint32) error {
	return wrap.Error(what+" failed with", errno.Error(code))
}

// New opens the database that `name` matches.
func New(name string) (Database, error) {
	var id uint32
	if code := newDatabase(name, &id); code != 0 {
		return 0, fail("creating database "+name, code)
	}
	return Database(id), nil
}

// Put stores data at key.
func (d Database) Put(key string, data []byte) error {
	var ptr unsafe.Pointer
	if len(data) != 0 {
		ptr = unsafe.Pointer(&data[0])
	}
	if code := databasePut(uint32(d), key, ptr, uint32(len(data))); code != 0 {
		return fail("database put of "+key, code)
	}
	return nil
}

// Get returns the data stored at key.
func (d Database) Get(key string) ([]byte, error) {
	var size uint32
	if code := databaseGetSize(uint32(d), key, &size); code != 0 {
		return nil, fail("database get of "+key, code)
	}
	if size == 0 {
		return []byte{}, nil
	}
	data := make([]byte, size)
	if code := databaseGet(uint32(d), key, unsafe.Pointer(&data[0])); code != 0 {
		return nil, fail("database get of "+key, code)
	}
	return data, nil
}

// Delete removes key (deleting a key that does not exist is no error).
func (d Database) Delete(key string) error {
	if code := databaseDelete(uint32(d), key); code != 0 {
		return fail("database delete of "+key, code)
	}
	return nil
}

// List returns the keys that start with prefix, sorted.
func (d Database) List(prefix string) ([]string, error) {
	var size uint32
	if code := databaseListSize(uint32(d), prefix, &size); code != 0 {
		return nil, fail("database list of "+prefix, code)
	}
	if size == 0 {
		return []string{}, nil
	}
	buf := make([]byte, size)
	if code := databaseList(uint32(d), prefix, unsafe.Pointer(&buf[0])); code != 0 {
		return nil, fail("database list of "+prefix, code)
	}
	keys := []string{}
	start := 0
	for i, c := range buf {
		if c == 0 {
			keys = append(keys, string(buf[start:i]))
			start = i + 1
		}
	}
	return keys, nil
}

// Close releases the handle.
func (d Database) Close() error {
	if code := databaseClose(uint32(d)); code != 0 {
		return fail("closing database", code)
	}
	return nil
}
