package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/domain"
)

func TestReportKinds(t *testing.T) {
	want := []domain.ReportKind{"ack", "partial_fill", "fill", "canceled", "expired", "rejected", "cancel_rejected"}
	if diff := cmp.Diff(want, domain.ReportKinds()); diff != "" {
		t.Errorf("ReportKinds() (-want +got):\n%s", diff)
	}
	triggers := map[domain.ReportKind]domain.Trigger{
		"ack":             domain.TriggerAck,
		"partial_fill":    domain.TriggerFill,
		"fill":            domain.TriggerFill,
		"canceled":        domain.TriggerCanceled,
		"expired":         domain.TriggerExpired,
		"rejected":        domain.TriggerRejected,
		"cancel_rejected": domain.TriggerCancelRejected,
		"new":             "",
	}
	for k, want := range triggers {
		if got := k.Trigger(); got != want {
			t.Errorf("ReportKind(%q).Trigger() = %q; want %q", k, got, want)
		}
		if got := k.Valid(); got != (want != "") {
			t.Errorf("ReportKind(%q).Valid() = %v", k, got)
		}
	}
}

func TestReportValidate(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 15, 31, 0, time.UTC)
	fill := domain.Report{Seq: 7, ExecID: "e7", OrderID: domain.NewID(at), Kind: domain.ReportPartialFill,
		LastQty: 4, LastPrice: 10000, CumQty: 4, LeavesQty: 6, At: at}
	ack := domain.Report{Seq: 6, ExecID: "e6", OrderID: fill.OrderID, Kind: domain.ReportAck, LeavesQty: 10, At: at}
	tests := []struct {
		name string
		base domain.Report
		edit func(*domain.Report)
		want []string // the fields at fault, in order; none for a valid report
	}{
		{"fill", fill, func(*domain.Report) {}, nil},
		{"ack", ack, func(*domain.Report) {}, nil},
		{"complete fill at the bounds", fill, func(r *domain.Report) {
			r.Kind, r.LastQty, r.LastPrice = domain.ReportFill, domain.MaxQuantity, domain.MaxPrice
		}, nil},
		{"smallest fill", fill, func(r *domain.Report) { r.LastQty, r.LastPrice = 1, 1 }, nil},
		{"rejection with a reason", ack, func(r *domain.Report) { r.Kind, r.Reason = domain.ReportRejected, "unknown instrument" }, nil},
		{"cancel refused", ack, func(r *domain.Report) { r.Kind = domain.ReportCancelRejected }, nil},
		{"no exec id", fill, func(r *domain.Report) { r.ExecID = "" }, []string{"exec_id"}},
		{"unknown kind", ack, func(r *domain.Report) { r.Kind = "new" }, []string{"kind"}},
		{"empty kind", ack, func(r *domain.Report) { r.Kind = "" }, []string{"kind"}},
		{"fill of nothing", fill, func(r *domain.Report) { r.LastQty = 0 }, []string{"last_qty"}},
		{"negative fill", fill, func(r *domain.Report) { r.LastQty = -1 }, []string{"last_qty"}},
		{"fill above MaxQuantity", fill, func(r *domain.Report) { r.LastQty = domain.MaxQuantity + 1 }, []string{"last_qty"}},
		{"fill at no price", fill, func(r *domain.Report) { r.Kind, r.LastPrice = domain.ReportFill, 0 }, []string{"last_price"}},
		{"fill at a negative price", fill, func(r *domain.Report) { r.LastPrice = -1 }, []string{"last_price"}},
		{"fill above MaxPrice", fill, func(r *domain.Report) { r.LastPrice = domain.MaxPrice + 1 }, []string{"last_price"}},
		{"ack with a quantity", ack, func(r *domain.Report) { r.LastQty = 1 }, []string{"last_qty"}},
		{"cancel with a quantity", ack, func(r *domain.Report) { r.Kind, r.LastQty = domain.ReportCanceled, 3 }, []string{"last_qty"}},
		{"negative cum_qty", fill, func(r *domain.Report) { r.CumQty = -1 }, []string{"cum_qty"}},
		{"negative leaves_qty", ack, func(r *domain.Report) { r.LeavesQty = -1 }, []string{"leaves_qty"}},
		{"no time", ack, func(r *domain.Report) { r.At = time.Time{} }, []string{"at"}},
		{"everything wrong", fill, func(r *domain.Report) {
			*r = domain.Report{Kind: domain.ReportFill, LastPrice: -5, CumQty: -1, LeavesQty: -1}
		}, []string{"exec_id", "last_qty", "last_price", "cum_qty", "leaves_qty", "at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.base
			tt.edit(&r)
			err := r.Validate()
			if tt.want == nil {
				if err != nil {
					t.Errorf("Validate() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("Validate() = %v; want an error matching ErrInvalid", err)
			}
			var all domain.ValidationErrors
			if !errors.As(err, &all) {
				t.Fatalf("Validate() = %v (%T); want domain.ValidationErrors", err, err)
			}
			var fields []string
			for _, ve := range all {
				fields = append(fields, ve.Field)
			}
			if diff := cmp.Diff(tt.want, fields); diff != "" {
				t.Errorf("fields at fault (-want +got):\n%s", diff)
			}
		})
	}
}
