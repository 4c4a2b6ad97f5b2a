package exchange

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ordergate/ordergate/domain"
)

// PlaceRequest is the body of the simulator's POST /orders: an order with
// its ID as the client order ID.
type PlaceRequest struct {
	ClientOrderID string `json:"client_order_id"`
	Type          string `json:"type"`
	Side          string `json:"side"`
	Instrument    string `json:"instrument"`
	// LimitPrice is a decimal string ("123.45"), empty for market orders.
	LimitPrice string `json:"limit_price,omitempty"`
	Quantity   int64  `json:"quantity"`
}

// StatsResponse is the simulator's GET /stats answer.
type StatsResponse struct {
	SimStats
	// Placements maps each placed client order ID to how many times it was
	// placed (1: repeats are acknowledged without placing).
	Placements map[string]int `json:"placements"`
}

func toPlaceRequest(o domain.Order) PlaceRequest {
	r := PlaceRequest{
		ClientOrderID: o.ID.String(),
		Type:          string(o.Type),
		Side:          string(o.Side),
		Instrument:    string(o.Instrument),
		Quantity:      o.Quantity,
	}
	if o.LimitPrice != nil {
		r.LimitPrice = o.LimitPrice.String()
	}
	return r
}

// order rebuilds the domain order a request describes.
func (r PlaceRequest) order() (domain.Order, error) {
	id, err := domain.ParseID(r.ClientOrderID)
	if err != nil {
		return domain.Order{}, err
	}
	spec := domain.Spec{Type: domain.Type(r.Type), Side: domain.Side(r.Side), Instrument: r.Instrument, Quantity: r.Quantity}
	if r.LimitPrice != "" {
		p, err := domain.ParsePrice(r.LimitPrice)
		if err != nil {
			return domain.Order{}, err
		}
		spec.LimitPrice = &p
	}
	return domain.New(id, domain.IDTime(id), spec)
}

// SimHandler serves s over HTTP: POST /orders places an order (200, 503 on
// the simulated connection failure, 422 for an order the exchange refuses),
// GET /stats reports the counters, GET /healthz answers 200.
func SimHandler(s *Sim) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var req PlaceRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed order: " + err.Error()})
			return
		}
		o, err := req.order()
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "order refused: " + err.Error()})
			return
		}
		switch err := s.Place(r.Context(), o); {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]string{"status": "placed", "client_order_id": req.ClientOrderID})
		case errors.Is(err, domain.ErrRejected):
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		}
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		resp := StatsResponse{SimStats: s.stats, Placements: make(map[string]int, len(s.placed))}
		for id, n := range s.placed {
			resp.Placements[id.String()] = n
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, resp)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a failed write means the client left; nothing else to tell it
}
