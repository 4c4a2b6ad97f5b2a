package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/cmd/internal/envflag"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// keysUsage is the help for "ordergate keys".
const keysUsage = `usage:
  ordergate keys create --account NAME [--db DSN]   print one new key for the account
  ordergate keys list [--db DSN]                    list key ids, accounts and times (never keys)
  ordergate keys revoke KEY_ID [--db DSN]           revoke a key; it stops working within a second`

// runKeys manages API keys: create, list or revoke. Only a created key goes
// to stdout; logs and errors go to stderr.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return errors.New("keys needs a command: create, list or revoke")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("ordergate keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", "ordergate.db", "SQLite file, or a postgres:// or postgresql:// URL")
	level := slog.LevelInfo
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	var account string
	switch sub {
	case "create":
		fs.StringVar(&account, "account", "", "the account the key acts for (required)")
	case "list", "revoke":
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stderr, keysUsage)
		return flag.ErrHelp
	default:
		fmt.Fprintln(stderr, keysUsage)
		return fmt.Errorf("keys: unknown command %q: use create, list or revoke", sub)
	}
	pos, err := parseInterleaved(fs, args, getenv)
	if err != nil {
		return err
	}
	var id domain.KeyID
	switch {
	case sub == "revoke" && len(pos) != 1:
		return errors.New("keys revoke takes one KEY_ID")
	case sub == "revoke":
		id = domain.KeyID(pos[0])
	case len(pos) > 0:
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	var acct domain.Account
	if sub == "create" {
		if account == "" {
			return errors.New("keys create needs --account NAME")
		}
		if acct, err = domain.ParseAccount(account); err != nil {
			return fmt.Errorf("--account %q: %w", account, err)
		}
	}
	if *dsn == "" {
		return errors.New("--db must not be empty")
	}

	log := newLogger(stderr, level)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var clock ports.Clock
	if clock, err = db.Clock(ctx, app.SystemClock{}); err != nil {
		return err
	}
	switch sub {
	case "create":
		key, k := domain.NewAPIKey(acct, clock.Now())
		if err := db.CreateKey(ctx, k); err != nil {
			return err
		}
		log.Info("api key created", "key_id", k.ID, "account", k.Account, "db", store.Redact(*dsn))
		_, err = fmt.Fprintln(stdout, key)
		return err
	case "list":
		keys, err := db.Keys(ctx)
		if err != nil {
			return err
		}
		return writeKeys(stdout, keys)
	default: // revoke
		if err := db.RevokeKey(ctx, id, clock.Now()); err != nil {
			if errors.Is(err, domain.ErrNotFound) {
				return fmt.Errorf("keys revoke: no key %q", id)
			}
			return err
		}
		log.Info("api key revoked", "key_id", id)
		return nil
	}
}

// parseInterleaved parses flags wherever they stand among the positional
// arguments ("revoke KEY_ID --db X" as well as "revoke --db X KEY_ID") and
// returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	if err := envflag.Parse(fs, "ORDERGATE_", args, getenv); err != nil {
		return nil, err
	}
	var pos []string
	for fs.NArg() > 0 {
		// Parse stopped at a positional argument: keep it, parse the rest.
		pos = append(pos, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// writeKeys lists keys as a table: id, account and times, never a key.
func writeKeys(w io.Writer, keys []domain.APIKey) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY_ID\tACCOUNT\tCREATED_AT\tLAST_USED_AT\tREVOKED_AT")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Account, stamp(k.CreatedAt), stamp(k.LastUsedAt), stamp(k.RevokedAt))
	}
	return tw.Flush()
}

// stamp formats t in RFC 3339 (UTC, to the second), or "-" if zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
