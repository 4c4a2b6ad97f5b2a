package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/ordergate/ordergate/domain"
)

// PlaceRequest is the body of the venue's POST /orders: an order with
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

// StatsResponse is the venue's GET /stats answer.
type StatsResponse struct {
	VenueStats
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

// DefaultFeedWriteTimeout is how long VenueHandler lets a feed subscriber
// take to accept one report before it disconnects it.
const DefaultFeedWriteTimeout = 5 * time.Second

// HandlerOption tunes VenueHandler.
type HandlerOption func(*handlerConfig)

type handlerConfig struct {
	writeTimeout time.Duration
}

// WithFeedWriteTimeout sets how long a feed subscriber may take to accept
// one report before it is disconnected (DefaultFeedWriteTimeout if d is
// not positive).
func WithFeedWriteTimeout(d time.Duration) HandlerOption {
	return func(c *handlerConfig) {
		if d > 0 {
			c.writeTimeout = d
		}
	}
}

// FloodRequest is the body of the venue's POST /flood: see Venue.Flood.
type FloodRequest struct {
	PerOrder int     `json:"per_order"`
	Rate     float64 `json:"rate"`
}

// VenueHandler serves v over HTTP:
//
//   - POST /orders places an order (PlaceRequest): 200, 503 on the
//     simulated connection failure, 422 for an order the venue refuses.
//   - POST /orders/{id}/cancel asks to cancel one: 200 accepted, 503 on the
//     simulated connection failure, 422 refused with the reason.
//   - GET /orders/{id} answers the venue's record of the order
//     (VenueOrder), 404 for an unknown one.
//   - GET /stats answers the counters and the placements by client order ID
//     (StatsResponse).
//   - POST /flood fills every working order (FloodRequest).
//   - GET /healthz answers 200.
//   - GET /feed?session=S&from_seq=N opens the feed as a WebSocket (see
//     Venue.Subscribe): a hello {"session", "from_seq"} naming the session
//     and the first number it sends, then one text message per report.
//     A report the venue no longer keeps answers 410 before the upgrade.
//     A subscriber that does not take a report within the write timeout is
//     disconnected; it subscribes again from where it was.
//
// Every other answer is JSON; an error is {"error": "..."}.
func VenueHandler(v *Venue, opts ...HandlerOption) http.Handler {
	cfg := handlerConfig{writeTimeout: DefaultFeedWriteTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /feed", func(w http.ResponseWriter, r *http.Request) { serveFeed(w, r, v, cfg) })
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var req PlaceRequest
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, http.StatusBadRequest, "malformed order: "+err.Error())
			return
		}
		o, err := req.order()
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "order refused: "+err.Error())
			return
		}
		switch err := v.Place(r.Context(), o); {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]string{"status": "placed", "client_order_id": req.ClientOrderID})
		case errors.Is(err, domain.ErrRejected):
			writeError(w, http.StatusUnprocessableEntity, err.Error())
		default:
			writeError(w, http.StatusServiceUnavailable, err.Error())
		}
	})
	mux.HandleFunc("POST /orders/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		id, err := domain.ParseID(r.PathValue("id"))
		if err != nil {
			// No order can have that ID: the venue refuses for good.
			writeError(w, http.StatusUnprocessableEntity, "cancel refused: "+err.Error())
			return
		}
		switch err := v.Cancel(r.Context(), id); {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]string{"status": "accepted", "client_order_id": id.String()})
		case errors.Is(err, domain.ErrRejected):
			writeError(w, http.StatusUnprocessableEntity, err.Error())
		default:
			writeError(w, http.StatusServiceUnavailable, err.Error())
		}
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := domain.ParseID(r.PathValue("id"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		rec, ok := v.Order(id)
		if !ok {
			writeError(w, http.StatusNotFound, "unknown order "+id.String())
			return
		}
		writeJSON(w, http.StatusOK, rec)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, StatsResponse{VenueStats: v.Stats(), Placements: v.placements()})
	})
	mux.HandleFunc("POST /flood", func(w http.ResponseWriter, r *http.Request) {
		var req FloodRequest
		if err := decodeBody(w, r, &req); err != nil {
			writeError(w, http.StatusBadRequest, "malformed flood request: "+err.Error())
			return
		}
		n, err := v.Flood(req.PerOrder, req.Rate)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"fills": n})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// serveFeed streams v's feed to one WebSocket subscriber. What it holds
// is bounded: one report at a time, written within the write timeout; a
// subscriber slower than that is dropped, not buffered for.
func serveFeed(w http.ResponseWriter, r *http.Request, v *Venue, cfg handlerConfig) {
	q := r.URL.Query()
	var from int64 = 1
	if s := q.Get("from_seq"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "from_seq must be a whole number")
			return
		}
		from = n
	}
	sub, err := v.subscribe(r.Context(), q.Get("session"), from)
	switch {
	case errors.Is(err, domain.ErrFeedTruncated):
		writeError(w, http.StatusGone, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer sub.Close()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered the client
	}
	defer func() { _ = c.CloseNow() }()
	// The subscriber sends nothing; reading only answers its pings and
	// close, and ends ctx when it goes.
	c.SetReadLimit(1 << 10)
	ctx := c.CloseRead(r.Context())

	write := func(msg []byte) error {
		wctx, cancel := context.WithTimeout(ctx, cfg.writeTimeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, msg)
	}
	hello, err := json.Marshal(feedHello{Session: sub.Session(), FromSeq: sub.first})
	if err != nil || write(hello) != nil {
		return
	}
	for {
		rep, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return // the subscriber went
			}
			code, reason := websocket.StatusTryAgainLater, "subscribe again"
			switch {
			case errors.Is(err, domain.ErrFeedTruncated):
				reason = "fell behind the reports the venue keeps"
			case errors.Is(err, errFeedDisconnected):
				reason = "disconnect (fault injection)"
			case errors.Is(err, ErrUnavailable):
				code, reason = websocket.StatusGoingAway, "venue closed"
			}
			_ = c.Close(code, reason)
			return
		}
		msg, err := encodeReport(rep)
		if err != nil {
			_ = c.Close(websocket.StatusInternalError, "cannot encode a report")
			return
		}
		// A write that times out closes the connection: the subscriber is
		// too slow and resumes with from_seq.
		if err := write(msg); err != nil {
			return
		}
	}
}

// decodeBody reads one JSON object of at most 64 KiB into dst, strictly.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a failed write means the client left; nothing else to tell it
}
