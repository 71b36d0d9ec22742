// Package node sends p2p commands to the functions that handle them:
//
//	svc := node.New("/echo/v1")          // a service of the project has this protocol
//	cmd, err := svc.Command("say")       // errno 45 when none has
//	answer, err := cmd.Send([]byte("hi")) // run by the function with trigger {type: p2p, service, command: say}
//	peers, err := node.Discover(10, time.Second)
//	answer, err = cmd.SendTo([]byte("hi"), peers[0])
//
// Nodes are `Peer`s (the bytes of a CID): upstream's go-cid cannot be fetched by dream's builds.
package node

import (
	"errors"
	"time"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

// Service is a p2p protocol of the project.
type Service struct {
	protocol string
}

// Command is a command of a service, ready to be sent.
type Command uint32

// Peer is a node, as the bytes of its CID.
type Peer []byte

// String is the node's id.
func (p Peer) String() string {
	if len(p) > 4 && int(p[3]) <= len(p)-4 {
		return string(p[4 : 4+int(p[3])])
	}
	return wrap.Hex(p)
}

func fail(what string, code uint32) error {
	return wrap.Error(what+" failed with", errno.Error(code))
}

// New is the service with `protocol`.
func New(protocol string) *Service { return &Service{protocol: protocol} }

// Protocol is the service's protocol.
func (s *Service) Protocol() string { return s.protocol }

// Command prepares `command` of the service.
func (s *Service) Command(command string) (Command, error) {
	var id uint32
	if code := newCommand(s.protocol, command, &id); code != 0 {
		return 0, fail("new p2p command "+command, code)
	}
	return Command(id), nil
}

// Listen is the project's name of the protocol, which a node listens on.
func (s *Service) Listen() (string, error) {
	var size uint32
	if code := listenToProtocolSize(s.protocol, &size); code != 0 {
		return "", fail("listen to protocol "+s.protocol, code)
	}
	if size == 0 {
		return "", errors.New("project protocol not found")
	}
	buf := make([]byte, size)
	if code := listenToProtocol(s.protocol, unsafe.Pointer(&buf[0]), size); code != 0 {
		return string(buf), fail("listen to protocol "+s.protocol, code)
	}
	return string(buf), nil
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func (c Command) response(size uint32) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	out := make([]byte, size)
	if code := readCommandResponse(uint32(c), unsafe.Pointer(&out[0]), size); code != 0 {
		return nil, fail("reading command response", code)
	}
	return out, nil
}

// Send runs the command on some node and returns what its handler wrote back.
func (c Command) Send(body []byte) ([]byte, error) {
	var size uint32
	if code := sendCommand(uint32(c), ptr(body), uint32(len(body)), &size); code != 0 {
		return nil, fail("send command", code)
	}
	return c.response(size)
}

// SendTo runs the command on the node `to`.
func (c Command) SendTo(body []byte, to Peer) ([]byte, error) {
	buf := make([]byte, 64)
	copy(buf, to)
	var size uint32
	if code := sendCommandTo(uint32(c), unsafe.Pointer(&buf[0]), ptr(body), uint32(len(body)), &size); code != 0 {
		return nil, fail("send command", code)
	}
	return c.response(size)
}

// Discover lists up to `max` nodes that run p2p handlers.
func Discover(max uint32, timeout time.Duration) ([]Peer, error) {
	var id, size uint32
	if code := discoverPeersSize(max, uint32(timeout.Nanoseconds()), &id, &size); code != 0 {
		return nil, fail("discover peers", code)
	}
	if size == 0 {
		return nil, nil
	}
	buf := make([]byte, size)
	if code := discoverPeers(id, unsafe.Pointer(&buf[0])); code != 0 {
		return nil, fail("discover peers", code)
	}
	var peers []Peer
	for len(buf) >= 2 {
		n := int(buf[0]) | int(buf[1])<<8 // little-endian; encoding/binary would link reflect in
		if len(buf) < 2+n {
			break
		}
		peers = append(peers, Peer(buf[2:2+n]))
		buf = buf[2+n:]
	}
	return peers, nil
}
