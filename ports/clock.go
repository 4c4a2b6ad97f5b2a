package ports

import "time"

// Clock tells the time. Tests replace it to control due times and backoff.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}
