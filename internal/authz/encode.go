package authz

import (
	"bytes"
	"slices"
)

// JSON encodes d in rayfleet's canonical form: compact, elements in the order
// Version, Statement and Sid, Effect, Action|NotAction, Resource, Condition,
// condition operators and keys sorted, a list of one value written as a bare
// string, and strings escaped only where JSON requires it. Parse reads the
// result back to a document equal to d (when d came from Parse) whose JSON is
// the same bytes, so it is the form to store and to compare.
func (d Document) JSON() []byte {
	var b bytes.Buffer
	b.WriteString(`{"Version":`)
	writeString(&b, d.Version)
	b.WriteString(`,"Statement":[`)
	for i, s := range d.Statement {
		if i > 0 {
			b.WriteByte(',')
		}
		s.writeJSON(&b)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// MarshalJSON encodes d with JSON, so a Document embedded in another
// structure keeps its canonical form.
func (d Document) MarshalJSON() ([]byte, error) { return d.JSON(), nil }

// UnmarshalJSON parses b with Parse, so decoding applies the same checks.
func (d *Document) UnmarshalJSON(b []byte) error {
	doc, err := Parse(b)
	if err != nil {
		return err
	}
	*d = doc
	return nil
}

func (s Statement) writeJSON(b *bytes.Buffer) {
	b.WriteByte('{')
	if s.Sid != "" {
		b.WriteString(`"Sid":`)
		writeString(b, s.Sid)
		b.WriteByte(',')
	}
	b.WriteString(`"Effect":`)
	writeString(b, s.Effect)
	if len(s.Action) > 0 {
		b.WriteString(`,"Action":`)
		writeList(b, s.Action)
	}
	if len(s.NotAction) > 0 {
		b.WriteString(`,"NotAction":`)
		writeList(b, s.NotAction)
	}
	b.WriteString(`,"Resource":`)
	writeList(b, s.Resource)
	if len(s.Condition) > 0 {
		b.WriteString(`,"Condition":{`)
		for i, op := range sortedKeys(s.Condition) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, op)
			b.WriteString(":{")
			for j, key := range sortedKeys(s.Condition[op]) {
				if j > 0 {
					b.WriteByte(',')
				}
				writeString(b, key)
				b.WriteByte(':')
				writeList(b, s.Condition[op][key])
			}
			b.WriteByte('}')
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func writeList(b *bytes.Buffer, vals []string) {
	if len(vals) == 1 {
		writeString(b, vals[0])
		return
	}
	b.WriteByte('[')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, v)
	}
	b.WriteByte(']')
}

// writeString writes s as a JSON string, escaping only the quote, the
// backslash and control characters (encoding/json would also escape <, >, &,
// U+2028 and U+2029, which lengthens documents for nothing). Invalid UTF-8
// becomes U+FFFD, as encoding/json does when it decodes.
func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			// range yields utf8.RuneError for invalid bytes; WriteRune then
			// writes U+FFFD.
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
