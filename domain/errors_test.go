package domain_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ordergate/ordergate/domain"
)

func TestValidationError(t *testing.T) {
	var err error = &domain.ValidationError{Field: "quantity", Reason: "must be at least 1"}
	if got, want := err.Error(), "quantity: must be at least 1"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	wrapped := fmt.Errorf("place order: %w", err)
	tests := []struct {
		target error
		want   bool
	}{
		{domain.ErrInvalid, true},
		{domain.ErrNotFound, false},
		{domain.ErrConflict, false},
		{domain.ErrRejected, false},
		{domain.ErrLeaseLost, false},
		{domain.ErrKeyReused, false},
		{domain.ErrTransition, false},
		{domain.ErrOverfill, false},
	}
	for _, tt := range tests {
		t.Run(tt.target.Error(), func(t *testing.T) {
			if got := errors.Is(wrapped, tt.target); got != tt.want {
				t.Errorf("errors.Is(wrapped ValidationError, %v) = %v; want %v", tt.target, got, tt.want)
			}
		})
	}
}

func TestValidationErrors(t *testing.T) {
	errs := domain.ValidationErrors{
		{Field: "type", Reason: "is wrong"},
		{Field: "side", Reason: "is wrong too"},
	}
	var err error = errs
	if got, want := err.Error(), "type: is wrong; side: is wrong too"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(err, domain.ErrInvalid) {
		t.Error("ValidationErrors does not match ErrInvalid")
	}
	var one *domain.ValidationError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &one) || one != errs[0] {
		t.Errorf("errors.As found %v; want the first element", one)
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	all := []error{domain.ErrInvalid, domain.ErrNotFound, domain.ErrConflict, domain.ErrRejected, domain.ErrLeaseLost, domain.ErrKeyReused, domain.ErrTransition, domain.ErrOverfill}
	for i, a := range all {
		for j, b := range all {
			if got := errors.Is(a, b); got != (i == j) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, got)
			}
		}
	}
}
