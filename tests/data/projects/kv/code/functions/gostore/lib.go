package lib

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/taubyte/go-sdk/event"
	http "github.com/taubyte/go-sdk/http/event"
	"github.com/taubyte/go-sdk/storage"
)

// POST /gostore?storage=<name>&op=<add|read|versions|files|cid|current|delete|deleteall|size>&name=<file>
// &version=<n>&overwrite=1&size=<n>: add stores the request body; read answers the file's bytes, read 7 at
// a time; fill adds a file of `size` bytes made here; sum answers the size and sha-256 of a file.
//
//export gostore
func gostore(e event.Event) uint32 {
	h, err := e.HTTP()
	if err != nil {
		return 1
	}
	q := h.Query()
	which, _ := q.Get("storage")
	op, _ := q.Get("op")
	name, _ := q.Get("name")
	versionText, _ := q.Get("version")
	overwrite, _ := q.Get("overwrite")
	sizeText, _ := q.Get("size")
	version, _ := strconv.ParseInt(versionText, 10, 64)

	s, err := storage.New(which)
	if err != nil {
		return fail(h, err)
	}
	file := s.File(name)
	switch op {
	case "add":
		data, _ := io.ReadAll(h.Body())
		v, err := file.Add(data, overwrite == "1")
		if err != nil {
			return fail(h, err)
		}
		h.Write([]byte(fmt.Sprint("version ", v)))
	case "read":
		f, err := file.Version(uint32(version)).GetFile()
		if err != nil {
			return fail(h, err)
		}
		chunk := make([]byte, 7)
		for {
			n, err := f.Read(chunk)
			h.Write(chunk[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				return fail(h, err)
			}
		}
		if n, err := f.Read(chunk); n != 0 || err != io.EOF { // past EOF: still EOF, nothing read
			return fail(h, fmt.Errorf("a read past EOF gave %d bytes and %v", n, err))
		}
		if err := f.Close(); err != nil {
			return fail(h, err)
		}
	case "fill": // a file of `size` bytes made here (byte i is i*7 mod 251), added in one call
		size, _ := strconv.Atoi(sizeText)
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7 % 251)
		}
		v, err := file.Add(data, overwrite == "1")
		if err != nil {
			return fail(h, err)
		}
		h.Write([]byte(fmt.Sprint("version ", v)))
	case "sum": // the sha-256 of the file's bytes, read a MiB at a time
		f, err := file.Version(uint32(version)).GetFile()
		if err != nil {
			return fail(h, err)
		}
		digest := sha256.New()
		chunk := make([]byte, 1<<20)
		total := 0
		for {
			n, err := f.Read(chunk)
			digest.Write(chunk[:n])
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				return fail(h, err)
			}
		}
		f.Close()
		h.Write([]byte(fmt.Sprint(total, " ", hex.EncodeToString(digest.Sum(nil)))))
	case "versions":
		versions, err := file.Versions()
		if err != nil {
			return fail(h, err)
		}
		h.Write([]byte(strings.Join(versions, ",")))
	case "files":
		files, err := s.ListFiles()
		if err != nil {
			return fail(h, err)
		}
		listed := []string{}
		for _, f := range files {
			listed = append(listed, f.Name())
		}
		h.Write([]byte(strings.Join(listed, ",")))
	case "cid":
		cid, err := s.Cid(name)
		if err != nil {
			return fail(h, err)
		}
		h.Write([]byte(cid.String()))
	case "current":
		v, err := file.CurrentVersion()
		if err != nil {
			return fail(h, err)
		}
		h.Write([]byte(strconv.Itoa(v)))
	case "delete":
		if err := file.Version(uint32(version)).Delete(); err != nil {
			return fail(h, err)
		}
		h.Write([]byte("deleted"))
	case "deleteall":
		if err := file.DeleteAllVersions(); err != nil {
			return fail(h, err)
		}
		h.Write([]byte("deleted"))
	case "push": // new content: write the body in pieces, read it back, push it; answers its CID
		c, err := storage.Create()
		if err != nil {
			return fail(h, err)
		}
		data, _ := io.ReadAll(h.Body())
		for at := 0; at < len(data); at += 100000 {
			end := at + 100000
			if end > len(data) {
				end = len(data)
			}
			if _, err := c.Write(data[at:end]); err != nil {
				return fail(h, err)
			}
		}
		if _, err := c.Seek(0, 0); err != nil {
			return fail(h, err)
		}
		back, _ := io.ReadAll(c)
		if string(back) != string(data) {
			return fail(h, fmt.Errorf("read back %d bytes of %d", len(back), len(data)))
		}
		if _, err := c.Seek(0, 7); err != nil { // no such whence
			h.Write([]byte(err.Error() + "\n"))
		}
		cid, err := c.Push()
		if err != nil {
			return fail(h, err)
		}
		h.Write([]byte(cid.String()))
	case "open": // content by the CID in `name`: answers its bytes
		cid, err := storage.ParseCid(name)
		if err != nil {
			return fail(h, err)
		}
		c, err := storage.Open(cid)
		if err != nil {
			return fail(h, err)
		}
		opened, err := c.Cid()
		if err != nil || opened.String() != name {
			return fail(h, fmt.Errorf("opened as %s (%v)", opened.String(), err))
		}
		data, _ := io.ReadAll(c)
		c.Close()
		h.Write(data)
	case "size":
		used, err := s.Used()
		if err != nil {
			return fail(h, err)
		}
		capacity, err := s.Capacity()
		if err != nil {
			return fail(h, err)
		}
		h.Write([]byte(fmt.Sprint(used, "/", capacity)))
	}
	h.Return(200)
	return 0
}

func fail(h http.Event, err error) uint32 {
	h.Write([]byte(err.Error()))
	h.Return(500)
	return 0
}
