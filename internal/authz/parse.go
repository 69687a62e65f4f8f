package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseError says what is wrong with a policy document and where, e.g.
// Field "Statement[1].Effect", Reason `must be Allow or Deny (got "allow")`.
// Its Error text is meant to be shown to the user as it is.
type ParseError struct {
	Field  string // path of the offending element; empty for the document as a whole
	Reason string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return "policy document " + e.Reason
	}
	return e.Field + " " + e.Reason
}

func perr(field, format string, args ...any) error {
	return &ParseError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Parse reads a policy document the way RAM's validator does: UTF-8 JSON of
// 1 to MaxDocumentChars characters, whose only top-level elements are
// Version ("1") and Statement (a non-empty array). Each statement has an
// Effect (Allow or Deny), an Action or a NotAction and a Resource, each a
// string or an array of strings, an optional Condition and an optional Sid.
// Element names are case-sensitive, and an element given twice, an unknown
// element, Principal or NotResource is an error. Condition operators must be
// ones RAM documents (see the operator table in condition.go), condition keys
// must look like "<prefix>:<name>", and each value must suit its operator: a
// date for Date*, an IP address or CIDR block for IpAddress, a number for
// Numeric*, exactly one "true" or "false" for Bool. Condition values may be
// JSON strings, numbers or booleans; they are kept as strings.
//
// The document's canonical re-encoding (Document.JSON) must also fit in
// MaxDocumentChars, so that what Parse accepts can always be stored and read
// back.
func Parse(doc []byte) (Document, error) {
	if !utf8.Valid(doc) {
		return Document{}, perr("", "is not valid UTF-8")
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return Document{}, perr("", "is empty")
	}
	// A rune is at most 4 bytes, so this bounds the work before counting.
	if len(doc) > 4*MaxDocumentChars {
		return Document{}, perr("", "is %d bytes long; at most %d characters are allowed", len(doc), MaxDocumentChars)
	}
	if n := utf8.RuneCount(doc); n > MaxDocumentChars {
		return Document{}, perr("", "is %d characters long; at most %d are allowed", n, MaxDocumentChars)
	}
	root, err := decodeJSON(doc)
	if err != nil {
		return Document{}, perr("", "is not valid JSON: %v", err)
	}
	d, err := parseDocument(root)
	if err != nil {
		return Document{}, err
	}
	if n := utf8.RuneCount(d.JSON()); n > MaxDocumentChars {
		return Document{}, perr("", "is %d characters long once re-encoded in canonical form; at most %d are allowed", n, MaxDocumentChars)
	}
	return d, nil
}

// node is a JSON value that keeps the order and the duplicates of object
// members, which encoding/json's maps would lose.
type node struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	str  string
	obj  []member
	arr  []node
}

type member struct {
	key string
	val node
}

func (n node) kindName() string {
	switch n.kind {
	case 'o':
		return "an object"
	case 'a':
		return "an array"
	case 's':
		return "a string"
	case 'n':
		return "a number"
	case 'b':
		return "a boolean"
	default:
		return "null"
	}
}

func decodeJSON(doc []byte) (node, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	n, err := decodeNode(dec)
	if errors.Is(err, io.EOF) {
		// The input ended inside a value.
		return node{}, io.ErrUnexpectedEOF
	}
	if err != nil {
		return node{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return node{}, errors.New("unexpected data after the top-level object")
		}
		return node{}, err
	}
	return n, nil
}

func decodeNode(dec *json.Decoder) (node, error) {
	tok, err := dec.Token()
	if err != nil {
		return node{}, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := node{kind: 'o'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return node{}, err
				}
				key, _ := kt.(string) // the decoder only yields strings as keys
				v, err := decodeNode(dec)
				if err != nil {
					return node{}, err
				}
				n.obj = append(n.obj, member{key: key, val: v})
			}
			if _, err := dec.Token(); err != nil { // '}'
				return node{}, err
			}
			return n, nil
		case '[':
			n := node{kind: 'a'}
			for dec.More() {
				v, err := decodeNode(dec)
				if err != nil {
					return node{}, err
				}
				n.arr = append(n.arr, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return node{}, err
			}
			return n, nil
		}
		return node{}, fmt.Errorf("unexpected %q", rune(t))
	case string:
		return node{kind: 's', str: t}, nil
	case json.Number:
		return node{kind: 'n', str: t.String()}, nil
	case bool:
		return node{kind: 'b', str: strconv.FormatBool(t)}, nil
	default:
		return node{kind: 'z'}, nil
	}
}

func parseDocument(root node) (Document, error) {
	if root.kind != 'o' {
		return Document{}, perr("", "must be a JSON object, not %s", root.kindName())
	}
	var d Document
	seen := map[string]bool{}
	for _, m := range root.obj {
		if seen[m.key] {
			return Document{}, perr(m.key, "appears more than once")
		}
		seen[m.key] = true
		switch m.key {
		case "Version":
			if m.val.kind != 's' || m.val.str != "1" {
				return Document{}, perr("Version", `must be the string "1" (got %s)`, describe(m.val))
			}
			d.Version = "1"
		case "Statement":
			if m.val.kind != 'a' {
				return Document{}, perr("Statement", "must be an array of statements, not %s", m.val.kindName())
			}
			if len(m.val.arr) == 0 {
				return Document{}, perr("Statement", "must hold at least one statement")
			}
			d.Statement = make([]Statement, 0, len(m.val.arr))
			for i, sn := range m.val.arr {
				s, err := parseStatement(fmt.Sprintf("Statement[%d]", i), sn)
				if err != nil {
					return Document{}, err
				}
				d.Statement = append(d.Statement, s)
			}
		default:
			return Document{}, unknownElement(m.key, "", []string{"Version", "Statement"}, "a policy document has only")
		}
	}
	if !seen["Version"] {
		return Document{}, perr("Version", `is required and must be "1"`)
	}
	if !seen["Statement"] {
		return Document{}, perr("Statement", "is required")
	}
	return d, nil
}

var statementElements = []string{"Sid", "Effect", "Action", "NotAction", "Resource", "Condition"}

func parseStatement(path string, n node) (Statement, error) {
	if n.kind != 'o' {
		return Statement{}, perr(path, "must be an object, not %s", n.kindName())
	}
	var s Statement
	seen := map[string]bool{}
	for _, m := range n.obj {
		field := path + "." + m.key
		if seen[m.key] {
			return Statement{}, perr(field, "appears more than once")
		}
		seen[m.key] = true
		var err error
		switch m.key {
		case "Sid":
			if m.val.kind != 's' {
				return Statement{}, perr(field, "must be a string, not %s", m.val.kindName())
			}
			s.Sid = m.val.str
		case "Effect":
			if m.val.kind != 's' || (m.val.str != EffectAllow && m.val.str != EffectDeny) {
				return Statement{}, perr(field, "must be Allow or Deny (got %s)", describe(m.val))
			}
			s.Effect = m.val.str
		case "Action":
			s.Action, err = stringList(field, m.val, checkAction)
		case "NotAction":
			s.NotAction, err = stringList(field, m.val, checkAction)
		case "Resource":
			s.Resource, err = stringList(field, m.val, checkResource)
		case "Condition":
			s.Condition, err = parseCondition(field, m.val)
		case "Principal":
			return Statement{}, perr(field, "is not allowed here: only resource-based policies (such as a role's trust policy) name a Principal")
		case "NotResource":
			return Statement{}, perr(field, "is not supported: list the resources the statement covers in Resource")
		default:
			return Statement{}, unknownElement(m.key, path+".", statementElements, "a statement has only")
		}
		if err != nil {
			return Statement{}, err
		}
	}
	switch {
	case !seen["Effect"]:
		return Statement{}, perr(path+".Effect", "is required and must be Allow or Deny")
	case seen["Action"] && seen["NotAction"]:
		return Statement{}, perr(path, "has both Action and NotAction; use one of them")
	case !seen["Action"] && !seen["NotAction"]:
		return Statement{}, perr(path+".Action", "is required (or NotAction)")
	case !seen["Resource"]:
		return Statement{}, perr(path+".Resource", `is required ("*" for every resource)`)
	}
	return s, nil
}

// unknownElement explains an element name that is not in known, pointing at
// the right spelling when only the case is wrong.
func unknownElement(name, prefix string, known []string, what string) error {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return perr(prefix+name, "is not a known element; element names are case-sensitive: write %q", k)
		}
	}
	return perr(prefix+name, "is not a known element: %s %s", what, strings.Join(known, ", "))
}

// stringList reads a string or a non-empty array of strings and checks each
// value; the field named in errors carries the index when the JSON has one.
func stringList(field string, n node, check func(string) string) ([]string, error) {
	switch n.kind {
	case 's':
		if why := check(n.str); why != "" {
			return nil, perr(field, "%s", why)
		}
		return []string{n.str}, nil
	case 'a':
		if len(n.arr) == 0 {
			return nil, perr(field, "must not be an empty array")
		}
		out := make([]string, 0, len(n.arr))
		for i, v := range n.arr {
			f := fmt.Sprintf("%s[%d]", field, i)
			if v.kind != 's' {
				return nil, perr(f, "must be a string, not %s", v.kindName())
			}
			if why := check(v.str); why != "" {
				return nil, perr(f, "%s", why)
			}
			out = append(out, v.str)
		}
		return out, nil
	default:
		return nil, perr(field, "must be a string or an array of strings, not %s", n.kindName())
	}
}

// hasSpaceOrControl reports whether s holds a character that has no place in
// an action, an ARN or a condition key.
func hasSpaceOrControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// checkAction returns why a is not "*" or "<ram-code>:<action-name>", or "".
func checkAction(a string) string {
	if a == "*" {
		return ""
	}
	code, name, ok := strings.Cut(a, ":")
	if !ok || code == "" || name == "" || strings.Contains(name, ":") || hasSpaceOrControl(a) {
		return fmt.Sprintf(`must be "*" or <ram-code>:<action-name>, e.g. "emr-serverless-spark:GetRayCluster" (got %q)`, a)
	}
	return ""
}

// checkResource returns why r is not "*" or an ARN
// acs:<service>:<region>:<account>:<resource>, or "".
func checkResource(r string) string {
	if r == "*" {
		return ""
	}
	if !strings.HasPrefix(r, "acs:") {
		return fmt.Sprintf(`must be "*" or an ARN starting with "acs:" (got %q)`, r)
	}
	parts := strings.SplitN(r, ":", 5)
	if len(parts) < 5 || parts[1] == "" || parts[4] == "" || hasSpaceOrControl(r) {
		return fmt.Sprintf(`must be an ARN acs:<service>:<region>:<account>:<resource>, e.g. "acs:emr-serverless-spark:*:*:workspace/*" (got %q)`, r)
	}
	return ""
}

func parseCondition(field string, n node) (Condition, error) {
	if n.kind != 'o' {
		return nil, perr(field, `must be an object {"<operator>": {"<key>": "<value>"}}, not %s`, n.kindName())
	}
	if len(n.obj) == 0 {
		return nil, nil
	}
	c := make(Condition, len(n.obj))
	for _, m := range n.obj {
		opField := field + "." + m.key
		if _, dup := c[m.key]; dup {
			return nil, perr(opField, "appears more than once")
		}
		op, ok := operators[m.key]
		if !ok {
			return nil, unknownOperator(opField, m.key)
		}
		if m.val.kind != 'o' {
			return nil, perr(opField, `must be an object {"<key>": "<value>"}, not %s`, m.val.kindName())
		}
		if len(m.val.obj) == 0 {
			return nil, perr(opField, "must name at least one condition key")
		}
		keys := make(map[string][]string, len(m.val.obj))
		lower := map[string]string{}
		for _, km := range m.val.obj {
			keyField := fmt.Sprintf("%s[%q]", opField, km.key)
			// Condition keys are matched case-insensitively, so two spellings
			// of one key would be two conditions on the same value.
			if prev, dup := lower[strings.ToLower(km.key)]; dup {
				return nil, perr(keyField, "repeats the condition key %q (keys are case-insensitive)", prev)
			}
			lower[strings.ToLower(km.key)] = km.key
			if why := checkConditionKey(km.key); why != "" {
				return nil, perr(keyField, "%s", why)
			}
			vals, err := conditionValues(keyField, km.val, op, m.key)
			if err != nil {
				return nil, err
			}
			keys[km.key] = vals
		}
		c[m.key] = keys
	}
	return c, nil
}

func unknownOperator(field, name string) error {
	for k := range operators {
		if strings.EqualFold(k, name) {
			return perr(field, "is not a known condition operator; operators are case-sensitive: write %q", k)
		}
	}
	return perr(field, "is not a condition operator RAM supports (String*, Numeric*, Date*, Bool, IpAddress, NotIpAddress)")
}

// checkConditionKey returns why k is not "<prefix>:<name>", or "".
func checkConditionKey(k string) string {
	prefix, name, ok := strings.Cut(k, ":")
	if !ok || prefix == "" || name == "" || hasSpaceOrControl(k) {
		return fmt.Sprintf(`must be a condition key <prefix>:<name>, e.g. "acs:SourceIp" (got %q)`, k)
	}
	return ""
}

func conditionValues(field string, n node, op operator, opName string) ([]string, error) {
	var raw []node
	switch n.kind {
	case 's', 'n', 'b':
		raw = []node{n}
	case 'a':
		if len(n.arr) == 0 {
			return nil, perr(field, "must hold at least one value")
		}
		raw = n.arr
	default:
		return nil, perr(field, "must be a value or an array of values, not %s", n.kindName())
	}
	if op.kind == kindBool && len(raw) > 1 {
		return nil, perr(field, "must hold exactly one value, true or false (RAM refuses several Boolean values)")
	}
	out := make([]string, 0, len(raw))
	for i, v := range raw {
		f := field
		if n.kind == 'a' {
			f = fmt.Sprintf("%s[%d]", field, i)
		}
		if v.kind != 's' && v.kind != 'n' && v.kind != 'b' {
			return nil, perr(f, "must be a string, a number or a boolean, not %s", v.kindName())
		}
		if why := op.checkValue(v.str); why != "" {
			return nil, perr(f, "%s for %s (got %q)", why, opName, v.str)
		}
		out = append(out, v.str)
	}
	return out, nil
}

// describe renders a JSON value for an error message.
func describe(n node) string {
	switch n.kind {
	case 's':
		return strconv.Quote(n.str)
	case 'n', 'b':
		return n.str
	default:
		return n.kindName()
	}
}
