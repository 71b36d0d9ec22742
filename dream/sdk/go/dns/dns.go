// Package dns resolves names from a function: the universe's own names (generated domains, project
// domains) by seer, the rest by the machine's resolver, or by a server of your choice (Reroute).
package dns

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

// Resolver is a resolver handle (valid for the rest of the call).
type Resolver uint32

// MxResp is an MX record.
type MxResp struct {
	Host string
	Pref uint16
}

// DefaultResolver is what NewResolver gives.
type DefaultResolver interface {
	LookupTXT(fqdn string) ([]string, error)
	LookupAddress(ip string) ([]string, error)
	LookupCNAME(fqdn string) (string, error)
	LookupMX(fqdn string) ([]*MxResp, error)
	Reroute(address, network string) error
	Reset() error
}

// NewResolver makes a resolver.
func NewResolver() (DefaultResolver, error) {
	var id uint32
	if code := dnsNewResolver(&id); code != 0 {
		return nil, wrap.Error("creating a new resolver failed with", errno.Error(code))
	}
	return Resolver(id), nil
}

// Reroute sends the resolver's lookups to address ("host:port") over network ("udp" or "tcp").
func (r Resolver) Reroute(address, network string) error {
	if code := dnsRerouteResolver(uint32(r), address, network); code != 0 {
		return wrap.Error("rerouting the resolver failed with", errno.Error(code))
	}
	return nil
}

// Reset makes the resolver the default one again.
func (r Resolver) Reset() error {
	if code := dnsResetResolver(uint32(r)); code != 0 {
		return wrap.Error("resetting the resolver failed with", errno.Error(code))
	}
	return nil
}

func (r Resolver) lookup(what, name string, size func(uint32, string, *uint32) uint32, data func(uint32, string, unsafe.Pointer) uint32) ([]byte, error) {
	var n uint32
	if code := size(uint32(r), name, &n); code != 0 {
		return nil, wrap.Error(what+" lookup of "+name+" failed with", errno.Error(code))
	}
	if n == 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	if code := data(uint32(r), name, unsafe.Pointer(&buf[0])); code != 0 {
		return nil, wrap.Error(what+" lookup of "+name+" failed with", errno.Error(code))
	}
	return buf, nil
}

func list(raw []byte) []string {
	items := strings.Split(string(raw), "\x00")
	if len(items) > 0 && items[len(items)-1] == "" {
		items = items[:len(items)-1]
	}
	return items
}

// LookupTXT is the TXT records of fqdn.
func (r Resolver) LookupTXT(fqdn string) ([]string, error) {
	raw, err := r.lookup("TXT", fqdn, dnsLookupTxTSize, dnsLookupTxT)
	return list(raw), err
}

// LookupAddress is the names of the address ip (a reverse lookup).
func (r Resolver) LookupAddress(ip string) ([]string, error) {
	raw, err := r.lookup("address", ip, dnsLookupAddressSize, dnsLookupAddress)
	return list(raw), err
}

// LookupCNAME is the canonical name of fqdn.
func (r Resolver) LookupCNAME(fqdn string) (string, error) {
	raw, err := r.lookup("CNAME", fqdn, dnsLookupCNAMESize, dnsLookupCNAME)
	return strings.Trim(string(raw), "\x00"), err
}

// LookupMX is the MX records of fqdn.
func (r Resolver) LookupMX(fqdn string) ([]*MxResp, error) {
	raw, err := r.lookup("MX", fqdn, dnsLookupMXSize, dnsLookupMX)
	if err != nil {
		return nil, err
	}
	var out []*MxResp
	for _, item := range list(raw) {
		parts := strings.Split(item, "/")
		if len(parts) < 2 {
			continue
		}
		pref, err := strconv.ParseUint(parts[1], 10, 16)
		if err != nil {
			return nil, wrap.Error("parsing MX record "+strconv.Quote(item)+" failed", err)
		}
		out = append(out, &MxResp{Host: parts[0], Pref: uint16(pref)})
	}
	return out, nil
}
