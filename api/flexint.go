package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
)

// FlexInt is an integer that also accepts a JSON string holding one: the
// hosted product's SDKs disagree on whether resourceSpec.cu is a string or a
// number, and both must work.
type FlexInt int64

// UnmarshalJSON accepts 64 and "64".
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			// A type error, so that the decoder names the field.
			return &json.UnmarshalTypeError{Value: "string holding no integer", Type: reflect.TypeFor[int64]()}
		}
		*f = FlexInt(n)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = FlexInt(n)
	return nil
}
