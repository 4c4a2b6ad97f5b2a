package webhook

import (
	"context"
	"net"
	"net/netip"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var _ ports.AddressGuard = (*Guard)(nil)

// Guard checks, when an endpoint is registered, that its host resolves
// only to public addresses.
type Guard struct {
	allowPrivate bool
	resolver     *net.Resolver
}

// NewGuard returns a Guard resolving hosts with r (net.DefaultResolver if
// nil); allowPrivate lets it accept loopback and private addresses.
func NewGuard(allowPrivate bool, r *net.Resolver) *Guard {
	if r == nil {
		r = net.DefaultResolver
	}
	return &Guard{allowPrivate: allowPrivate, resolver: r}
}

// CheckWebhookURL returns a *domain.ValidationError naming "url" if u is
// not an endpoint URL, its host does not resolve, or, unless private
// addresses are allowed, any address it resolves to is not public.
func (g *Guard) CheckWebhookURL(ctx context.Context, u string) error {
	pu, err := domain.ParseWebhookURL(u)
	if err != nil {
		return err
	}
	host := pu.Hostname()
	var ips []net.IP
	if a, err := netip.ParseAddr(host); err == nil {
		ips = []net.IP{net.IP(a.WithZone("").AsSlice())}
	} else {
		addrs, err := g.resolver.LookupIPAddr(ctx, host)
		if err != nil || len(addrs) == 0 {
			return &domain.ValidationError{Field: "url", Reason: "host " + host + " does not resolve"}
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	if g.allowPrivate {
		return nil
	}
	for _, ip := range ips {
		if !domain.PublicAddress(ip) {
			return &domain.ValidationError{Field: "url", Reason: "host " + host + " resolves to " + ip.String() +
				", not a public address: loopback, private and link-local addresses are refused"}
		}
	}
	return nil
}
