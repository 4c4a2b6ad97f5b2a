package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// webhookRow is one registered endpoint.
type webhookRow struct {
	bun.BaseModel `bun:"table:webhooks"`

	ID         string       `bun:"id,pk"`
	Account    string       `bun:"account"`
	URL        string       `bun:"url"`
	Secret     string       `bun:"secret"`
	CreatedAt  time.Time    `bun:"created_at"`
	DisabledAt sql.NullTime `bun:"disabled_at"`
}

func (r *webhookRow) toDomain() domain.Webhook {
	w := domain.Webhook{
		ID: domain.WebhookID(r.ID), Account: domain.Account(r.Account), URL: r.URL, Secret: r.Secret,
		CreatedAt: r.CreatedAt.UTC(),
	}
	if r.DisabledAt.Valid {
		w.DisabledAt = r.DisabledAt.Time.UTC()
	}
	return w
}

// deliveryRow is one event owed to one endpoint.
type deliveryRow struct {
	bun.BaseModel `bun:"table:webhook_deliveries"`

	WebhookID  string         `bun:"webhook_id,pk"`
	EventSeq   int64          `bun:"event_seq,pk"`
	DueAt      time.Time      `bun:"due_at"`
	Attempts   int            `bun:"attempts"`
	LastError  sql.NullString `bun:"last_error"`
	LeaseOwner sql.NullString `bun:"lease_owner"`
	LeaseUntil sql.NullTime   `bun:"lease_until"`
	EnqueuedAt time.Time      `bun:"enqueued_at"`
}

// webhookNotFound wraps domain.ErrNotFound for id.
func webhookNotFound(id domain.WebhookID) error {
	return fmt.Errorf("store: webhook %s: %w", id, domain.ErrNotFound)
}

// CreateWebhook stores w (see ports.Webhooks). It returns an error
// wrapping domain.ErrConflict if w.ID is taken by another endpoint. A
// failed attempt, whose commit may have happened all the same, is followed
// by another, which finds w stored if it was.
func (d *DB) CreateWebhook(ctx context.Context, w domain.Webhook) error {
	if w.Account == "" || w.ID == "" {
		return fmt.Errorf("store: webhook %q of account %q: %w", w.ID, w.Account, domain.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	row := &webhookRow{ID: string(w.ID), Account: string(w.Account), URL: w.URL, Secret: w.Secret, CreatedAt: utcMicro(w.CreatedAt)}
	if !w.DisabledAt.IsZero() {
		row.DisabledAt = sql.NullTime{Time: utcMicro(w.DisabledAt), Valid: true}
	}
	insert := func() error {
		return d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.NewInsert().Model(row).Exec(ctx)
			return err
		})
	}
	err := insert()
	if err != nil && !isUniqueViolation(err) {
		err = insert()
	}
	if err != nil && isUniqueViolation(err) {
		var got webhookRow
		if rerr := d.db.NewSelect().Model(&got).Where("id = ?", row.ID).Scan(ctx); rerr != nil {
			return fmt.Errorf("store: read back webhook %s: %w", w.ID, rerr)
		}
		if got.Account != row.Account || got.URL != row.URL || got.Secret != row.Secret || !got.CreatedAt.Equal(row.CreatedAt) {
			return fmt.Errorf("store: webhook %s: %w", w.ID, domain.ErrConflict)
		}
		return nil // this call's own commit, its answer lost
	}
	if err != nil {
		return fmt.Errorf("store: create webhook %s: %w", w.ID, err)
	}
	return nil
}

// Webhooks returns account's endpoints, disabled ones included, oldest
// first.
func (d *DB) Webhooks(ctx context.Context, account domain.Account) ([]domain.Webhook, error) {
	var rows []webhookRow
	if err := d.db.NewSelect().Model(&rows).Where("account = ?", string(account)).OrderExpr("created_at, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("store: webhooks of %s: %w", account, err)
	}
	out := make([]domain.Webhook, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].toDomain())
	}
	return out, nil
}

// DeleteWebhook removes account's endpoint id with its pending deliveries,
// or returns an error wrapping domain.ErrNotFound. An endpoint found
// before a failed attempt and gone after the next is deleted: by this
// call, its answer lost, or by a concurrent one; either way it is gone.
func (d *DB) DeleteWebhook(ctx context.Context, account domain.Account, id domain.WebhookID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	attempt := func() error {
		return d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
			// The endpoint's row first, then its deliveries: the order
			// claims lock them in.
			res, err := tx.NewDelete().Model((*webhookRow)(nil)).Where("id = ?", string(id)).Where("account = ?", string(account)).Exec(ctx)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return webhookNotFound(id)
			}
			_, err = tx.NewDelete().Model((*deliveryRow)(nil)).Where("webhook_id = ?", string(id)).Exec(ctx)
			return err
		})
	}
	exists, err := d.db.NewSelect().Model((*webhookRow)(nil)).Where("id = ?", string(id)).Where("account = ?", string(account)).Exists(ctx)
	if err != nil {
		return fmt.Errorf("store: delete webhook %s: %w", id, err)
	}
	if !exists {
		return webhookNotFound(id)
	}
	// There before, gone now: the first attempt deleted it.
	err = onceOr(attempt, domain.ErrNotFound, func() bool { return true })
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return err
		}
		return fmt.Errorf("store: delete webhook %s: %w", id, err)
	}
	return nil
}

// maxClaimEndpoints bounds how many endpoints one claim considers.
const maxClaimEndpoints = 1000

// ClaimDeliveries leases due deliveries (see ports.Deliveries). The lease
// is (c.Owner, c.LeaseUntil), which fences settles. At most c.PerEndpoint
// deliveries of one endpoint are leased at once, counting every holder's:
// on PostgreSQL a claim locks the rows of the endpoints it counts (in ID
// order, skipping those another claim holds), so that two claims never
// count one endpoint at once; SQLite's writers take turns.
//
// Once started it runs to the end whatever becomes of ctx. If the commit's
// answer is lost, it reads back the deliveries leased to exactly c.Owner
// until c.LeaseUntil.
func (d *DB) ClaimDeliveries(ctx context.Context, c ports.DeliveryClaim) ([]ports.Delivery, error) {
	if c.Limit < 1 || c.PerEndpoint < 1 {
		return nil, fmt.Errorf("store: claim limit %d and per endpoint %d must be at least 1", c.Limit, c.PerEndpoint)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	now, until := c.Now.UTC(), utcMicro(c.LeaseUntil)
	// The sender is woken after every commit that wrote events, and most
	// wake-ups find nothing to claim (no endpoint, or its deliveries
	// leased): a read says so without a write transaction, which on SQLite
	// would queue for the one writer with the creates.
	due, err := d.bg.NewSelect().Model((*deliveryRow)(nil)).Where("due_at <= ?", now).
		Where("(lease_until IS NULL OR lease_until < ?)", now).Limit(1).Exists(ctx)
	if err == nil && !due {
		return nil, nil
	}
	var got []deliveryRow
	err = d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
		var err error
		got, err = d.claimIn(ctx, tx, c, now, until)
		return err
	})
	if err != nil {
		// Perhaps committed: the deliveries leased by this very claim say so.
		var back []deliveryRow
		rerr := d.bg.NewSelect().Model(&back).Where("lease_owner = ?", c.Owner).Where("lease_until = ?", until).Scan(ctx)
		if rerr != nil || len(back) == 0 {
			return nil, fmt.Errorf("store: claim deliveries: %w", err)
		}
		got = back
	}
	out, err := d.withEvents(ctx, got)
	if err != nil {
		return nil, fmt.Errorf("store: claim deliveries: %w", err)
	}
	return out, nil
}

func (d *DB) claimIn(ctx context.Context, tx bun.Tx, c ports.DeliveryClaim, now, until time.Time) ([]deliveryRow, error) {
	// The enabled endpoints with a delivery to claim: one probe of the
	// (webhook_id, due_at) index each, however long an endpoint's backlog.
	var endpoints []string
	q := tx.NewSelect().Model((*webhookRow)(nil)).Column("id").Where("disabled_at IS NULL").
		Where(`EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.webhook_id = webhook_row.id
			AND d.due_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?))`, now, now).
		OrderExpr("id").Limit(maxClaimEndpoints)
	if d.dialect == Postgres {
		// The lock makes this claim the only one counting the endpoint's
		// leases; another claim skips the endpoint rather than wait. NO KEY
		// UPDATE, as the row's key does not change.
		q = q.For("NO KEY UPDATE SKIP LOCKED")
	}
	if err := q.Scan(ctx, &endpoints); err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		return nil, nil
	}
	// Statements from here on see every claim committed before the locks.
	var held []struct {
		WebhookID string `bun:"webhook_id"`
		N         int    `bun:"n"`
	}
	if err := tx.NewSelect().Model((*deliveryRow)(nil)).ColumnExpr("webhook_id, count(*) AS n").
		Where("webhook_id IN (?)", bun.List(endpoints)).Where("lease_until >= ?", now).
		GroupExpr("webhook_id").Scan(ctx, &held); err != nil {
		return nil, err
	}
	room := make(map[string]int, len(endpoints))
	for _, e := range endpoints {
		room[e] = c.PerEndpoint
	}
	for _, h := range held {
		room[h.WebhookID] -= h.N
	}
	open := make([]string, 0, len(endpoints))
	rooms := make([]int, 0, len(endpoints))
	for _, e := range endpoints {
		if room[e] > 0 {
			open = append(open, e)
			rooms = append(rooms, room[e])
		}
	}
	if len(open) == 0 {
		return nil, nil
	}
	type dueRow struct {
		WebhookID string    `bun:"webhook_id"`
		EventSeq  int64     `bun:"event_seq"`
		DueAt     time.Time `bun:"due_at"`
	}
	var due []dueRow
	if d.dialect == Postgres {
		// Each endpoint's oldest due deliveries, as many as it has room
		// for, from the index.
		err := tx.NewRaw(`SELECT c.webhook_id, c.event_seq, c.due_at FROM unnest(?::text[], ?::int[]) AS w(id, room)
			CROSS JOIN LATERAL (
				SELECT d.webhook_id, d.event_seq, d.due_at FROM webhook_deliveries AS d JOIN event_ids AS i ON i.seq = d.event_seq
				WHERE d.webhook_id = w.id AND d.due_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)
				ORDER BY d.due_at, d.event_seq LIMIT w.room) AS c
			ORDER BY c.due_at, c.event_seq LIMIT ?`,
			pgdialect.Array(open), pgdialect.Array(rooms), now, now, c.Limit).Scan(ctx, &due)
		if err != nil {
			return nil, err
		}
	} else {
		// SQLite has no LATERAL: one probe of the (webhook_id, due_at)
		// index per endpoint, in this process (a window over the
		// endpoints' due deliveries would read each one's whole backlog).
		for i, e := range open {
			var one []dueRow
			err := tx.NewRaw(`SELECT webhook_id, event_seq, due_at FROM webhook_deliveries
				WHERE webhook_id = ? AND due_at <= ? AND (lease_until IS NULL OR lease_until < ?)
				ORDER BY due_at, event_seq LIMIT ?`, e, now, now, rooms[i]).Scan(ctx, &one)
			if err != nil {
				return nil, err
			}
			due = append(due, one...)
		}
		// Oldest due first across the endpoints, as on PostgreSQL.
		slices.SortFunc(due, func(a, b dueRow) int {
			return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.EventSeq, b.EventSeq))
		})
	}
	var keys []string
	var args []any
	for _, r := range due {
		if len(keys) == c.Limit {
			break
		}
		if room[r.WebhookID] <= 0 {
			continue
		}
		room[r.WebhookID]--
		keys = append(keys, "(?, ?)")
		args = append(args, r.WebhookID, r.EventSeq)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	lock := ""
	if d.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var got []deliveryRow
	args = append([]any{c.Owner, until}, append(args, now)...)
	err := tx.NewRaw(`UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?
		WHERE (webhook_id, event_seq) IN (
			SELECT webhook_id, event_seq FROM webhook_deliveries
			WHERE (webhook_id, event_seq) IN (`+strings.Join(keys, ", ")+`) AND (lease_until IS NULL OR lease_until < ?)`+lock+`)
		RETURNING webhook_id, event_seq, due_at, attempts, last_error, lease_owner, lease_until, enqueued_at`, args...).Scan(ctx, &got)
	return got, err
}

// withEvents returns the claimed deliveries with their endpoints and
// events, oldest due first.
func (d *DB) withEvents(ctx context.Context, rows []deliveryRow) ([]ports.Delivery, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	slices.SortFunc(rows, func(a, b deliveryRow) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.EventSeq, b.EventSeq), cmp.Compare(a.WebhookID, b.WebhookID))
	})
	var hookIDs []string
	var seqs []int64
	for _, r := range rows {
		hookIDs = append(hookIDs, r.WebhookID)
		seqs = append(seqs, r.EventSeq)
	}
	var hooks []webhookRow
	if err := d.bg.NewSelect().Model(&hooks).Where("id IN (?)", bun.List(hookIDs)).Scan(ctx); err != nil {
		return nil, err
	}
	var events []eventRow
	if err := d.bg.NewRaw(eventsOf(d.bg).selectEvents()+"e.seq IN (?)", bun.List(seqs)).Scan(ctx, &events); err != nil {
		return nil, err
	}
	hookBy := make(map[string]domain.Webhook, len(hooks))
	for i := range hooks {
		hookBy[hooks[i].ID] = hooks[i].toDomain()
	}
	eventBy := make(map[int64]domain.OrderEvent, len(events))
	for i := range events {
		e, err := events[i].toDomain()
		if err != nil {
			return nil, err
		}
		eventBy[events[i].Seq] = e
	}
	out := make([]ports.Delivery, 0, len(rows))
	for _, r := range rows {
		w, ok := hookBy[r.WebhookID]
		if !ok {
			return nil, fmt.Errorf("delivery of event %d to webhook %s has no webhook", r.EventSeq, r.WebhookID)
		}
		e, ok := eventBy[r.EventSeq]
		if !ok {
			return nil, fmt.Errorf("delivery of event %d to webhook %s has no event", r.EventSeq, r.WebhookID)
		}
		out = append(out, ports.Delivery{
			Webhook: w, Event: e, Attempts: r.Attempts,
			Owner: r.LeaseOwner.String, LeaseUntil: r.LeaseUntil.Time.UTC(), Enqueued: r.EnqueuedAt.UTC(),
		})
	}
	return out, nil
}

// SettleDelivery records d's outcome (see ports.Deliveries), fenced by d's
// lease: if another claim took it over, it returns an error wrapping
// domain.ErrLeaseLost and records nothing. A failed attempt whose commit
// may have happened is followed by another; if that one finds the lease
// gone, the delivery's row tells whether the first committed.
func (d *DB) SettleDelivery(ctx context.Context, dl ports.Delivery, o ports.DeliveryOutcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	attempt := func() error {
		return d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error { return settleDeliveryIn(ctx, tx, dl, o) })
	}
	err := onceOr(attempt, domain.ErrLeaseLost, func() bool { return d.settled(ctx, dl, o) })
	if err != nil {
		return fmt.Errorf("store: settle delivery of event %d to webhook %s: %w", dl.Event.ID, dl.Webhook.ID, err)
	}
	return nil
}

func settleDeliveryIn(ctx context.Context, tx bun.Tx, dl ports.Delivery, o ports.DeliveryOutcome) error {
	hook := string(dl.Webhook.ID)
	seq := seqOfEvent(tx, dl.Event.ID)
	fenced := func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Where("webhook_id = ?", hook).Where("event_seq = (?)", seq).
			Where("lease_owner = ?", dl.Owner).Where("lease_until = ?", utcMicro(dl.LeaseUntil))
	}
	switch o.Result {
	case ports.Delivered, ports.GiveUp:
		res, err := tx.NewDelete().Model((*deliveryRow)(nil)).
			Where("webhook_id = ?", hook).Where("event_seq = (?)", seq).
			Where("lease_owner = ?", dl.Owner).Where("lease_until = ?", utcMicro(dl.LeaseUntil)).Exec(ctx)
		return leaseHeld(res, err)
	case ports.RetryDelivery:
		res, err := fenced(tx.NewUpdate().Model((*deliveryRow)(nil))).
			Set("due_at = ?", o.Due.UTC()).Set("attempts = attempts + 1").
			Set("last_error = ?", sql.NullString{String: o.Cause, Valid: o.Cause != ""}).
			Set("lease_owner = NULL").Set("lease_until = NULL").Exec(ctx)
		return leaseHeld(res, err)
	case ports.EndpointGone:
		// The endpoint's row first, then its deliveries, as claims lock them.
		if _, err := tx.NewUpdate().Model((*webhookRow)(nil)).Set("disabled_at = ?", o.At.UTC()).
			Where("id = ?", hook).Where("disabled_at IS NULL").Exec(ctx); err != nil {
			return err
		}
		held, err := tx.NewSelect().Model((*deliveryRow)(nil)).
			Where("webhook_id = ?", hook).Where("event_seq = (?)", seq).
			Where("lease_owner = ?", dl.Owner).Where("lease_until = ?", utcMicro(dl.LeaseUntil)).Exists(ctx)
		if err != nil {
			return err
		}
		if !held {
			return domain.ErrLeaseLost // rolls the endpoint's change back
		}
		_, err = tx.NewDelete().Model((*deliveryRow)(nil)).Where("webhook_id = ?", hook).Exec(ctx)
		return err
	default:
		return fmt.Errorf("delivery result %d: %w", o.Result, domain.ErrInvalid)
	}
}

// settled reports whether dl's outcome o is recorded, after a settle
// whose first commit's answer was lost found the lease gone.
func (d *DB) settled(ctx context.Context, dl ports.Delivery, o ports.DeliveryOutcome) bool {
	var rows []deliveryRow
	if err := d.bg.NewSelect().Model(&rows).Where("webhook_id = ?", string(dl.Webhook.ID)).
		Where("event_seq = (?)", seqOfEvent(d.bg, dl.Event.ID)).Scan(ctx); err != nil {
		return false
	}
	switch o.Result {
	case ports.Delivered, ports.GiveUp:
		return len(rows) == 0
	case ports.RetryDelivery:
		return len(rows) == 1 && !rows[0].LeaseOwner.Valid && rows[0].Attempts == dl.Attempts+1 && rows[0].DueAt.Equal(o.Due)
	case ports.EndpointGone:
		var w webhookRow
		err := d.bg.NewSelect().Model(&w).Where("id = ?", string(dl.Webhook.ID)).Scan(ctx)
		return err == nil && w.DisabledAt.Valid && len(rows) == 0
	}
	return false
}

// ReleaseDeliveries hands back deliveries claimed but never attempted: due
// at now, unleased, their attempts unchanged. Deliveries whose lease is no
// longer theirs are left as they are, which also makes a second try after
// a lost commit answer harmless.
func (d *DB) ReleaseDeliveries(ctx context.Context, ds []ports.Delivery, now time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b ports.Delivery) int {
		return cmp.Or(cmp.Compare(a.Webhook.ID, b.Webhook.ID), cmp.Compare(a.Event.ID, b.Event.ID))
	})
	err := once(func() error {
		return d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error { return releaseIn(ctx, tx, ds, now) })
	})
	if err != nil {
		return fmt.Errorf("store: release %d deliveries: %w", len(ds), err)
	}
	return nil
}

func releaseIn(ctx context.Context, tx bun.Tx, ds []ports.Delivery, now time.Time) error {
	for _, dl := range ds {
		if _, err := tx.NewUpdate().Model((*deliveryRow)(nil)).
			Set("due_at = ?", now.UTC()).Set("lease_owner = NULL").Set("lease_until = NULL").
			Where("webhook_id = ?", string(dl.Webhook.ID)).
			Where("event_seq = (?)", seqOfEvent(tx, dl.Event.ID)).
			Where("lease_owner = ?", dl.Owner).Where("lease_until = ?", utcMicro(dl.LeaseUntil)).
			Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// DeliveryStats counts the pending deliveries and finds when the oldest
// was written.
func (d *DB) DeliveryStats(ctx context.Context) (ports.DeliveryStats, error) {
	// Only deliveries still owed count: one written as its endpoint was
	// deleted or disabled is never sent, and waits for its event's purge.
	const owed = "EXISTS (SELECT 1 FROM webhooks AS w WHERE w.id = ?TableAlias.webhook_id AND w.disabled_at IS NULL)"
	n, err := d.bg.NewSelect().Model((*deliveryRow)(nil)).Where(owed).Count(ctx)
	if err != nil {
		return ports.DeliveryStats{}, fmt.Errorf("store: delivery stats: %w", err)
	}
	st := ports.DeliveryStats{Pending: int64(n)}
	if n == 0 {
		return st, nil
	}
	var oldest []deliveryRow
	if err := d.bg.NewSelect().Model(&oldest).Where(owed).OrderExpr("enqueued_at").Limit(1).Scan(ctx); err != nil {
		return ports.DeliveryStats{}, fmt.Errorf("store: delivery stats: %w", err)
	}
	if len(oldest) == 1 {
		st.Oldest = oldest[0].EnqueuedAt.UTC()
	}
	return st, nil
}
