package domain_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/domain"
)

func TestStatuses(t *testing.T) {
	want := []domain.Status{"pending", "placed", "partially_filled", "pending_cancel", "filled", "canceled", "expired", "rejected"}
	if diff := cmp.Diff(want, domain.Statuses()); diff != "" {
		t.Errorf("Statuses() (-want +got):\n%s", diff)
	}
	// Callers may sort or edit the list they get.
	domain.Statuses()[0] = "oops"
	if got := domain.Statuses()[0]; got != domain.Pending {
		t.Errorf("Statuses()[0] = %q after a caller changed its copy", got)
	}
}

func TestStatusProperties(t *testing.T) {
	tests := []struct {
		s        domain.Status
		valid    bool
		terminal bool
	}{
		{domain.Pending, true, false},
		{domain.Placed, true, false},
		{domain.PartiallyFilled, true, false},
		{domain.PendingCancel, true, false},
		{domain.Filled, true, true},
		{domain.Canceled, true, true},
		{domain.Expired, true, true},
		{domain.Rejected, true, true},
		{"", false, false},
		{"PENDING", false, false},
		{"cancelled", false, false},
		{"(keep)", false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			if got := tt.s.Valid(); got != tt.valid {
				t.Errorf("Status(%q).Valid() = %v; want %v", tt.s, got, tt.valid)
			}
			if got := tt.s.Terminal(); got != tt.terminal {
				t.Errorf("Status(%q).Terminal() = %v; want %v", tt.s, got, tt.terminal)
			}
			if got := tt.s.Rank() >= 0; got != tt.valid {
				t.Errorf("Status(%q).Rank() = %d; want a rank only for valid statuses", tt.s, tt.s.Rank())
			}
		})
	}
}

func TestStatusRank(t *testing.T) {
	byRank := []domain.Status{
		domain.Pending, domain.Placed, domain.PartiallyFilled, domain.PendingCancel,
		domain.Rejected, domain.Expired, domain.Canceled, domain.Filled,
	}
	got := domain.Statuses()
	slices.SortFunc(got, func(a, b domain.Status) int { return a.Rank() - b.Rank() })
	if diff := cmp.Diff(byRank, got); diff != "" {
		t.Errorf("statuses by Rank() (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Rank() == got[i].Rank() {
			t.Errorf("%s and %s share rank %d", got[i-1], got[i], got[i].Rank())
		}
	}
}
