// Package webhook sends webhook deliveries over HTTP and guards which
// endpoints may be registered. Both refuse loopback, private, link-local
// and other non-public addresses (domain.PublicAddress) unless told to
// allow them: the Guard when an endpoint is registered, by resolving its
// host, and the Sender when it connects, by checking the address it dials,
// so that a host whose DNS answer changes after registration (DNS
// rebinding) still cannot reach an internal address.
package webhook
