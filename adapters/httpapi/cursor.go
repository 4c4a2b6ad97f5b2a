package httpapi

import (
	"encoding/base64"
	"strings"

	"github.com/ordergate/ordergate/domain"
)

// cursorPrefix versions the opaque cursor so its format can change.
const cursorPrefix = "v1:"

func encodeCursor(id domain.ID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id.String()))
}

func decodeCursor(s string) (domain.ID, error) {
	bad := &domain.ValidationError{Field: "cursor", Reason: "is not a cursor this API issued: pass next_cursor from the previous page unchanged"}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return domain.ID{}, bad
	}
	id, err := domain.ParseID(strings.TrimPrefix(string(b), cursorPrefix))
	if err != nil {
		return domain.ID{}, bad
	}
	return id, nil
}
