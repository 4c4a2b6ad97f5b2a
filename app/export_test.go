package app

import "github.com/ordergate/ordergate/domain"

// LiveStreams returns how many of account's streams receive live events
// from h, so tests know when a subscription has caught up.
func LiveStreams(h *EventHub, account domain.Account) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[account])
}
