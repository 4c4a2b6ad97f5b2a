package store

import (
	"encoding/json"
	"testing"
)

// An event written before the sums carries the order's fills; read back it
// gives the same sums, and an order without them.
func TestEventDocWrittenWithFillsGivesTheirSums(t *testing.T) {
	legacy := `{"id":"0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11","account":"acme","created_at":"2026-11-24T10:15:30Z",
		"updated_at":"2026-11-24T10:15:36Z","type":"limit","side":"buy","instrument":"US0378331005","limit_price":"123.45",
		"quantity":10,"status":"filled","fills":[
			{"exec_id":"a","quantity":4,"price":"100.01","executed_at":"2026-11-24T10:15:35Z"},
			{"exec_id":"b","quantity":6,"price":"100.00","executed_at":"2026-11-24T10:15:36Z"}],
		"placement_attempts":1,"placed_at":"2026-11-24T10:15:31Z","last_error":""}`
	var d orderDoc
	if err := json.Unmarshal([]byte(legacy), &d); err != nil {
		t.Fatal(err)
	}
	o, filled, avg, err := d.toDomain()
	if err != nil {
		t.Fatal(err)
	}
	if o.Fills != nil || filled != 10 || avg == nil || *avg != 100_004_000 || o.Status != "filled" || o.Quantity != 10 {
		t.Errorf("order %+v, filled %d, average %v; want no fills, 10 filled at 100.004", o, filled, avg)
	}
}
