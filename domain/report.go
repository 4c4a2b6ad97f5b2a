package domain

import (
	"slices"
	"time"
)

// ReportKind is what an execution report from the exchange says happened.
type ReportKind string

// Report kinds, as the exchange's feed names them.
const (
	// ReportAck acknowledges the placement.
	ReportAck ReportKind = "ack"
	// ReportPartialFill is an execution that leaves part of the order open.
	ReportPartialFill ReportKind = "partial_fill"
	// ReportFill is an execution that completes the order.
	ReportFill ReportKind = "fill"
	// ReportCanceled confirms a cancel.
	ReportCanceled ReportKind = "canceled"
	// ReportExpired ends the order at its time limit.
	ReportExpired ReportKind = "expired"
	// ReportRejected refuses the order for good.
	ReportRejected ReportKind = "rejected"
	// ReportCancelRejected refuses a cancel request.
	ReportCancelRejected ReportKind = "cancel_rejected"
)

// reportTriggers maps each kind to its lifecycle input. Both fill kinds are
// one trigger: the quantities, not the exchange's label, say whether the
// order is complete, since reports may arrive out of order.
var (
	reportKinds    = []ReportKind{ReportAck, ReportPartialFill, ReportFill, ReportCanceled, ReportExpired, ReportRejected, ReportCancelRejected}
	reportTriggers = map[ReportKind]Trigger{
		ReportAck:            TriggerAck,
		ReportPartialFill:    TriggerFill,
		ReportFill:           TriggerFill,
		ReportCanceled:       TriggerCanceled,
		ReportExpired:        TriggerExpired,
		ReportRejected:       TriggerRejected,
		ReportCancelRejected: TriggerCancelRejected,
	}
)

// ReportKinds returns every report kind, in the feed's documented order.
func ReportKinds() []ReportKind { return slices.Clone(reportKinds) }

// Valid reports whether k is a known report kind.
func (k ReportKind) Valid() bool {
	_, ok := reportTriggers[k]
	return ok
}

// Trigger returns the lifecycle input k stands for; "" for an unknown kind.
func (k ReportKind) Trigger() Trigger { return reportTriggers[k] }

// Report is one execution report from the exchange's feed about one order.
type Report struct {
	// Seq numbers the feed's reports, rising by one per report.
	Seq int64
	// ExecID identifies the report at the exchange; for fills it becomes
	// the Fill's ExecID.
	ExecID  string
	OrderID ID
	Kind    ReportKind
	// LastQty and LastPrice are the execution of a fill; zero otherwise.
	LastQty   int64
	LastPrice Price
	// CumQty and LeavesQty are the exchange's totals when it sent the
	// report. Apply does not use them: it sums the fills it has, which
	// stays right whatever order the reports arrive in.
	CumQty    int64
	LeavesQty int64
	At        time.Time
	// Reason explains a rejection or a refused cancel.
	Reason string
}

// Validate checks r is well formed, reporting every broken rule at once as
// ValidationErrors named after the feed's fields. Whether r fits its order
// is Apply's business.
func (r Report) Validate() error {
	var errs ValidationErrors
	add := func(field, reason string) { errs = append(errs, &ValidationError{Field: field, Reason: reason}) }

	if r.ExecID == "" {
		add("exec_id", "is required")
	}
	if !r.Kind.Valid() {
		add("kind", "is not a known report kind")
	}
	if r.Kind.Trigger() == TriggerFill {
		if r.LastQty < 1 || r.LastQty > MaxQuantity {
			add("last_qty", "must be between 1 and 1000000000 for a fill")
		}
		if r.LastPrice <= 0 || r.LastPrice > MaxPrice {
			add("last_price", "must be between 0.01 and 999999999.99 for a fill")
		}
	} else if r.LastQty != 0 {
		add("last_qty", "must be 0 for a report that is not a fill")
	}
	if r.CumQty < 0 {
		add("cum_qty", "must not be negative")
	}
	if r.LeavesQty < 0 {
		add("leaves_qty", "must not be negative")
	}
	if r.At.IsZero() {
		add("at", "is required")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
