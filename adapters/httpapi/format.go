package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// jsonFormat is Huma's JSON format with one change to decoding for
// validation: numbers too large for float64 become ±Inf instead of failing
// with a Go type error, so that 1e400 is a 422 naming its field (it breaks
// the field's maximum) rather than a 400 about Go's float64. Exact values are
// read later from the raw text (Number, Integer).
var jsonFormat = huma.Format{
	Marshal: huma.DefaultJSONFormat.Marshal,
	Unmarshal: func(data []byte, v any) error {
		p, ok := v.(*any)
		if !ok {
			return json.Unmarshal(data, v)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return cleanJSONError(err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return errors.New("invalid JSON: unexpected data after the top-level value")
		}
		*p = floats(x)
		return nil
	},
}

// floats turns json.Numbers into float64, the type Huma's validator checks.
func floats(v any) any {
	switch v := v.(type) {
	case json.Number:
		// ParseFloat returns ±Inf (or 0) with ErrRange for out-of-range
		// values: exactly what the range checks need.
		f, _ := strconv.ParseFloat(string(v), 64)
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = floats(e)
		}
	case []any:
		for i, e := range v {
			v[i] = floats(e)
		}
	}
	return v
}

// cleanJSONError says what is wrong with the client's JSON without Go's
// vocabulary.
func cleanJSONError(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return errors.New("invalid JSON at byte " + strconv.FormatInt(syn.Offset, 10) + ": " + syn.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: the body ends before the value does")
	default:
		return errors.New("invalid JSON")
	}
}
