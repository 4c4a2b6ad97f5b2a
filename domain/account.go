package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// Account is who orders belong to: the account of the API key that created
// them. An account sees, lists and cancels its own orders and nobody
// else's. Values made by ParseAccount are valid.
type Account string

// DefaultAccount is the account of the key a fresh database is given on
// its first start.
const DefaultAccount Account = "default"

// MaxAccountLen is the longest account name.
const MaxAccountLen = 64

// ParseAccount checks s is an account name: 1 to 64 characters, lower-case
// letters, digits, '.', '_' and '-', starting with a letter or digit.
func ParseAccount(s string) (Account, error) {
	bad := &ValidationError{Field: "account", Reason: "must be 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"}
	if len(s) == 0 || len(s) > MaxAccountLen {
		return "", bad
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return "", bad
		}
	}
	return Account(s), nil
}

// KeyID names an API key in listings, logs and revocations. It is not
// secret.
type KeyID string

// APIKey is a stored API key: its hash, never the key itself, and whose it
// is.
type APIKey struct {
	ID      KeyID
	Account Account
	// Hash is KeyHash of the key.
	Hash      KeyHash
	CreatedAt time.Time
	// LastUsedAt is when the key last authenticated a request, to within a
	// few seconds; zero if never.
	LastUsedAt time.Time
	// RevokedAt is when the key was revoked; zero while it is valid.
	RevokedAt time.Time
}

// Revoked reports whether the key was revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// KeyHash is the SHA-256 of an API key. Keys are 256 random bits, so a fast
// hash is enough: no dictionary or brute force can reach one, and a slow
// hash would only slow every request.
type KeyHash [sha256.Size]byte

// String returns the hash in hex.
func (h KeyHash) String() string { return hex.EncodeToString(h[:]) }

// Equal compares h and o in constant time.
func (h KeyHash) Equal(o KeyHash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// keyPrefix makes ordergate's keys recognisable, to people and to secret
// scanners.
const keyPrefix = "og_"

// keyBytes is the key's randomness: 256 bits.
const keyBytes = 32

// apiKeyLen is the length of a key: the prefix and 43 base64url characters.
var apiKeyLen = len(keyPrefix) + base64.RawURLEncoding.EncodedLen(keyBytes)

// NewAPIKey makes a key for account at now: the key, shown to its owner
// once, and what a store keeps of it.
func NewAPIKey(account Account, now time.Time) (string, APIKey) {
	var secret [keyBytes]byte
	_, _ = rand.Read(secret[:]) // crypto/rand.Read never fails (Go 1.24+).
	var id [8]byte
	_, _ = rand.Read(id[:])
	key := keyPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	return key, APIKey{
		ID:        KeyID("key_" + hex.EncodeToString(id[:])),
		Account:   account,
		Hash:      HashAPIKey(key),
		CreatedAt: now.UTC().Truncate(time.Microsecond),
	}
}

// HashAPIKey returns the hash of key that a store looks keys up by.
func HashAPIKey(key string) KeyHash { return sha256.Sum256([]byte(key)) }

// WellFormedAPIKey reports whether key has the form of an ordergate key:
// the prefix and 43 base64url characters. A key of another form is
// refused without a lookup.
func WellFormedAPIKey(key string) bool {
	if len(key) != apiKeyLen || !strings.HasPrefix(key, keyPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(key[len(keyPrefix):])
	return err == nil
}
