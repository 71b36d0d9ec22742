package storage

import (
	"errors"
	"io"
	"strings"

	"github.com/taubyte/go-sdk/errno"
)

// Content is bytes addressed by their CID, outside any storage: Create one and Push it, or Open one.
type Content struct {
	Id uint32
}

// ReadWriteContent is new content.
type ReadWriteContent interface {
	io.ReadWriteSeeker
	io.Closer
	Push() (Cid, error)
}

// ReadOnlyContent is content opened by its CID.
type ReadOnlyContent interface {
	io.ReadSeekCloser
	Cid() (Cid, error)
}

// ParseCid reads a CID's text (`bafkrei…`).
func ParseCid(text string) (Cid, error) {
	if !strings.HasPrefix(text, "b") {
		return Cid{}, errors.New("only base32 CIDv1 text (b…) is understood")
	}
	raw, err := base32Lower.DecodeString(text[1:])
	if err != nil {
		return Cid{}, err
	}
	return Cid{raw: raw}, nil
}

func cidFrom(buf []byte) (Cid, error) {
	if buf[0] != 1 || int(buf[3])+4 > len(buf) {
		return Cid{}, errors.New("the host wrote no CIDv1")
	}
	return Cid{raw: buf[:4+int(buf[3])]}, nil
}

// Create makes new, empty content to write.
func Create() (ReadWriteContent, error) {
	var id uint32
	if code := storageNewContent(&id); code != 0 {
		return nil, fail("creating content", code)
	}
	return &Content{id}, nil
}

// Open opens the content stored as cid.
func Open(cid Cid) (ReadOnlyContent, error) {
	buf := make([]byte, CidBufferSize)
	copy(buf, cid.raw)
	content := &Content{}
	if code := storageOpenCid(&content.Id, ptr(buf)); code != 0 {
		return nil, fail("opening content "+cid.String(), code)
	}
	return content, nil
}

// Write appends p at the current position.
func (c *Content) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errors.New("nothing to write")
	}
	var n uint32
	if code := contentWriteFile(c.Id, ptr(p), uint32(len(p)), &n); code != 0 {
		return int(n), fail("writing content", code)
	}
	return int(n), nil
}

// Read reads the next bytes; io.EOF once none are left.
func (c *Content) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uint32
	code := contentReadFile(c.Id, ptr(p), uint32(len(p)), &n)
	if errno.Error(code) == errno.ErrorEOF {
		return int(n), io.EOF
	}
	if code != 0 {
		return int(n), fail("reading content", code)
	}
	return int(n), nil
}

// Seek moves the position: whence 0 from the start, 1 from here, 2 from the end.
func (c *Content) Seek(offset int64, whence int) (int64, error) {
	var position uint32
	if code := contentSeekFile(c.Id, offset, uint32(whence), &position); code != 0 {
		return 0, fail("seeking content", code)
	}
	return int64(position), nil
}

// Cid is the CID the content was opened by.
func (c *Content) Cid() (Cid, error) {
	buf := make([]byte, CidBufferSize)
	if code := contentFileCid(c.Id, ptr(buf)); code != 0 {
		return Cid{}, fail("getting the content's cid", code)
	}
	return cidFrom(buf)
}

// Push keeps the content (all of it) in hoarder and closes it: its CID.
func (c *Content) Push() (Cid, error) {
	buf := make([]byte, CidBufferSize)
	if code := contentPushFile(c.Id, ptr(buf)); code != 0 {
		return Cid{}, fail("pushing content", code)
	}
	c.Close()
	return cidFrom(buf)
}

// Close releases the content.
func (c *Content) Close() error {
	if code := contentCloseFile(c.Id); code != 0 {
		return fail("closing content", code)
	}
	return nil
}
