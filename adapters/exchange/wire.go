package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// feedHello is the first message of a feed WebSocket: the session its
// sequence numbers belong to and the number of the first report it sends.
type feedHello struct {
	Session string `json:"session"`
	FromSeq int64  `json:"from_seq"`
}

// reportJSON is an execution report on the feed, in the contract's shape:
// prices as decimal strings, times as RFC 3339 with nanoseconds, reason
// only when set.
type reportJSON struct {
	Seq       int64  `json:"seq"`
	ExecID    string `json:"exec_id"`
	OrderID   string `json:"order_id"`
	Kind      string `json:"kind"`
	LastQty   int64  `json:"last_qty"`
	LastPrice string `json:"last_price"`
	CumQty    int64  `json:"cum_qty"`
	LeavesQty int64  `json:"leaves_qty"`
	At        string `json:"at"`
	Reason    string `json:"reason,omitempty"`
}

func encodeReport(r domain.Report) ([]byte, error) {
	return json.Marshal(reportJSON{
		Seq:       r.Seq,
		ExecID:    r.ExecID,
		OrderID:   r.OrderID.String(),
		Kind:      string(r.Kind),
		LastQty:   r.LastQty,
		LastPrice: r.LastPrice.String(),
		CumQty:    r.CumQty,
		LeavesQty: r.LeavesQty,
		At:        r.At.UTC().Format(time.RFC3339Nano),
		Reason:    r.Reason,
	})
}

// decodeReport reads one feed message exactly: integers must be JSON
// integers, prices decimal strings read by domain.ParsePrice, and the
// report must pass Report.Validate. Unknown fields are ignored, as feed
// clients do with tags they do not know.
func decodeReport(b []byte) (domain.Report, error) {
	var w reportJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return domain.Report{}, fmt.Errorf("malformed report: %w", err)
	}
	if w.Seq < 1 {
		return domain.Report{}, fmt.Errorf("malformed report: seq %d must be at least 1", w.Seq)
	}
	id, err := domain.ParseID(w.OrderID)
	if err != nil {
		return domain.Report{}, fmt.Errorf("malformed report %d: order_id: %w", w.Seq, err)
	}
	price, err := domain.ParsePrice(w.LastPrice)
	if err != nil {
		// ParsePrice names the field of an order request; this is another.
		var verr *domain.ValidationError
		if errors.As(err, &verr) {
			err = errors.New(verr.Reason)
		}
		return domain.Report{}, fmt.Errorf("malformed report %d: last_price %q: %w", w.Seq, w.LastPrice, err)
	}
	at, err := time.Parse(time.RFC3339Nano, w.At)
	if err != nil {
		return domain.Report{}, fmt.Errorf("malformed report %d: at: %w", w.Seq, err)
	}
	r := domain.Report{
		Seq:       w.Seq,
		ExecID:    w.ExecID,
		OrderID:   id,
		Kind:      domain.ReportKind(w.Kind),
		LastQty:   w.LastQty,
		LastPrice: price,
		CumQty:    w.CumQty,
		LeavesQty: w.LeavesQty,
		At:        at.UTC(),
		Reason:    w.Reason,
	}
	if err := r.Validate(); err != nil {
		return domain.Report{}, fmt.Errorf("malformed report %d: %w", w.Seq, err)
	}
	return r, nil
}
