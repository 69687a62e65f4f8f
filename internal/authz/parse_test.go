package authz

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Document
	}{
		{
			name: "single strings",
			doc:  `{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:GetRayCluster","Resource":"*"}]}`,
			want: Document{Version: "1", Statement: []Statement{{
				Effect: "Allow", Action: []string{"emr-serverless-spark:GetRayCluster"}, Resource: []string{"*"},
			}}},
		},
		{
			name: "arrays, element order free, whitespace",
			doc: `{
			  "Statement": [
			    {
			      "Resource": ["acs:emr-serverless-spark:*:*:workspace/w-1", "acs:emr-serverless-spark:*:*:workspace/w-1/*"],
			      "Action": ["emr-serverless-spark:*RayCluster", "emr-serverless-spark:Get?ayJob"],
			      "Effect": "Deny"
			    }
			  ],
			  "Version": "1"
			}`,
			want: Document{Version: "1", Statement: []Statement{{
				Effect:   "Deny",
				Action:   []string{"emr-serverless-spark:*RayCluster", "emr-serverless-spark:Get?ayJob"},
				Resource: []string{"acs:emr-serverless-spark:*:*:workspace/w-1", "acs:emr-serverless-spark:*:*:workspace/w-1/*"},
			}}},
		},
		{
			name: "NotAction and Sid",
			doc:  `{"Version":"1","Statement":[{"Sid":"all but ram","Effect":"Allow","NotAction":"ram:*","Resource":"*"}]}`,
			want: Document{Version: "1", Statement: []Statement{{
				Sid: "all but ram", Effect: "Allow", NotAction: []string{"ram:*"}, Resource: []string{"*"},
			}}},
		},
		{
			name: "action wildcard alone",
			doc:  `{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
			want: Document{Version: "1", Statement: []Statement{{Effect: "Allow", Action: []string{"*"}, Resource: []string{"*"}}}},
		},
		{
			name: "conditions of every kind, scalar and list values, numbers and booleans",
			doc: `{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:*","Resource":"*","Condition":{
				"IpAddress":{"acs:SourceIp":["192.0.2.0/24","2001:db8::/32","198.51.100.7"]},
				"DateLessThan":{"acs:CurrentTime":"2026-01-01T00:00:00Z"},
				"DateGreaterThanEquals":{"acs:CurrentTime":["2025-01-01","2025-06-01T08:00:00+08:00"]},
				"Bool":{"acs:SecureTransport":true},
				"NumericLessThan":{"acs:Custom":[10, 2.5]},
				"StringLike":{"acs:UserAgent":"rayfleet/*"}}}]}`,
			want: Document{Version: "1", Statement: []Statement{{
				Effect: "Allow", Action: []string{"emr-serverless-spark:*"}, Resource: []string{"*"},
				Condition: Condition{
					"IpAddress":             {"acs:SourceIp": {"192.0.2.0/24", "2001:db8::/32", "198.51.100.7"}},
					"DateLessThan":          {"acs:CurrentTime": {"2026-01-01T00:00:00Z"}},
					"DateGreaterThanEquals": {"acs:CurrentTime": {"2025-01-01", "2025-06-01T08:00:00+08:00"}},
					"Bool":                  {"acs:SecureTransport": {"true"}},
					"NumericLessThan":       {"acs:Custom": {"10", "2.5"}},
					"StringLike":            {"acs:UserAgent": {"rayfleet/*"}},
				},
			}}},
		},
		{
			name: "empty condition is no condition",
			doc:  `{"Version":"1","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{}}]}`,
			want: Document{Version: "1", Statement: []Statement{{Effect: "Allow", Action: []string{"a:b"}, Resource: []string{"*"}}}},
		},
		{
			name: "several statements",
			doc: `{"Version":"1","Statement":[{"Effect":"Allow","Action":"a:*","Resource":"*"},` +
				`{"Effect":"Deny","Action":"a:Delete*","Resource":"acs:a:cn-hangzhou:1234567890123456:thing/x"}]}`,
			want: Document{Version: "1", Statement: []Statement{
				{Effect: "Allow", Action: []string{"a:*"}, Resource: []string{"*"}},
				{Effect: "Deny", Action: []string{"a:Delete*"}, Resource: []string{"acs:a:cn-hangzhou:1234567890123456:thing/x"}},
			}},
		},
		{
			name: "escapes decode",
			doc:  `{"Version":"1","Statement":[{"Sid":"tab\there \u00e9","Effect":"Allow","Action":"a:b","Resource":"*"}]}`,
			want: Document{Version: "1", Statement: []Statement{{Sid: "tab\there é", Effect: "Allow", Action: []string{"a:b"}, Resource: []string{"*"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse =\n%#v\nwant\n%#v", got, tt.want)
			}
			again, err := Parse(got.JSON())
			if err != nil {
				t.Fatalf("Parse(JSON()) of %s: %v", got.JSON(), err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip changed the document:\n%#v\n%#v", again, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	stmt := func(body string) string { return `{"Version":"1","Statement":[` + body + `]}` }
	cond := func(c string) string {
		return stmt(`{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":` + c + `}`)
	}
	tests := []struct {
		name  string
		doc   string
		field string // ParseError.Field
		err   string // the whole message
	}{
		{"empty", ``, "", `policy document is empty`},
		{"blank", " \n\t", "", `policy document is empty`},
		{"bad utf8", "{\"Version\":\"\xff\"}", "", `policy document is not valid UTF-8`},
		{"syntax", `{"Version":"1",}`, "", `policy document is not valid JSON: invalid character '}' looking for beginning of object key string`},
		{"truncated", `{"Version":"1"`, "", `policy document is not valid JSON: unexpected EOF`},
		{"trailing data", `{"Version":"1","Statement":[]} {}`, "", `policy document is not valid JSON: unexpected data after the top-level object`},
		{"not an object", `["Version"]`, "", `policy document must be a JSON object, not an array`},
		{"too long", `{"Version":"1","Statement":[{"Sid":"` + strings.Repeat("x", MaxDocumentChars) + `"}]}`, "",
			`policy document is 6184 characters long; at most 6144 are allowed`},
		{"too many bytes", strings.Repeat("x", 4*MaxDocumentChars+1), "", `policy document is 24577 bytes long; at most 6144 characters are allowed`},
		{"multibyte counted as characters", `{"Sid":"` + strings.Repeat("é", MaxDocumentChars) + `"}`, "",
			`policy document is 6154 characters long; at most 6144 are allowed`},
		{"version missing", `{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}`, "Version", `Version is required and must be "1"`},
		{"version number", `{"Version":1,"Statement":[]}`, "Version", `Version must be the string "1" (got 1)`},
		{"version 2", `{"Version":"2","Statement":[]}`, "Version", `Version must be the string "1" (got "2")`},
		{"statement missing", `{"Version":"1"}`, "Statement", `Statement is required`},
		{"statement object", `{"Version":"1","Statement":{"Effect":"Allow"}}`, "Statement", `Statement must be an array of statements, not an object`},
		{"statement empty", `{"Version":"1","Statement":[]}`, "Statement", `Statement must hold at least one statement`},
		{"unknown top-level", `{"Version":"1","Id":"x","Statement":[]}`, "Id", `Id is not a known element: a policy document has only Version, Statement`},
		{"top-level case", `{"version":"1"}`, "version", `version is not a known element; element names are case-sensitive: write "Version"`},
		{"duplicate top-level", `{"Version":"1","Version":"1"}`, "Version", `Version appears more than once`},
		{"statement not object", stmt(`"x"`), "Statement[0]", `Statement[0] must be an object, not a string`},
		{"effect missing", stmt(`{"Action":"a:b","Resource":"*"}`), "Statement[0].Effect", `Statement[0].Effect is required and must be Allow or Deny`},
		{"effect lower case", stmt(`{"Effect":"Allow","Action":"a:b","Resource":"*"},{"Effect":"allow","Action":"a:b","Resource":"*"}`),
			"Statement[1].Effect", `Statement[1].Effect must be Allow or Deny (got "allow")`},
		{"effect not string", stmt(`{"Effect":true,"Action":"a:b","Resource":"*"}`), "Statement[0].Effect", `Statement[0].Effect must be Allow or Deny (got true)`},
		{"action missing", stmt(`{"Effect":"Allow","Resource":"*"}`), "Statement[0].Action", `Statement[0].Action is required (or NotAction)`},
		{"action and notaction", stmt(`{"Effect":"Allow","Action":"a:b","NotAction":"a:c","Resource":"*"}`), "Statement[0]",
			`Statement[0] has both Action and NotAction; use one of them`},
		{"action empty array", stmt(`{"Effect":"Allow","Action":[],"Resource":"*"}`), "Statement[0].Action", `Statement[0].Action must not be an empty array`},
		{"action number", stmt(`{"Effect":"Allow","Action":7,"Resource":"*"}`), "Statement[0].Action",
			`Statement[0].Action must be a string or an array of strings, not a number`},
		{"action element number", stmt(`{"Effect":"Allow","Action":["a:b",7],"Resource":"*"}`), "Statement[0].Action[1]",
			`Statement[0].Action[1] must be a string, not a number`},
		{"action without code", stmt(`{"Effect":"Allow","Action":"GetRayCluster","Resource":"*"}`), "Statement[0].Action",
			`Statement[0].Action must be "*" or <ram-code>:<action-name>, e.g. "emr-serverless-spark:GetRayCluster" (got "GetRayCluster")`},
		{"action two colons", stmt(`{"Effect":"Allow","Action":["a:b","a:b:c"],"Resource":"*"}`), "Statement[0].Action[1]",
			`Statement[0].Action[1] must be "*" or <ram-code>:<action-name>, e.g. "emr-serverless-spark:GetRayCluster" (got "a:b:c")`},
		{"action with space", stmt(`{"Effect":"Allow","Action":"a: b","Resource":"*"}`), "Statement[0].Action",
			`Statement[0].Action must be "*" or <ram-code>:<action-name>, e.g. "emr-serverless-spark:GetRayCluster" (got "a: b")`},
		{"notaction bad", stmt(`{"Effect":"Allow","NotAction":":x","Resource":"*"}`), "Statement[0].NotAction",
			`Statement[0].NotAction must be "*" or <ram-code>:<action-name>, e.g. "emr-serverless-spark:GetRayCluster" (got ":x")`},
		{"resource missing", stmt(`{"Effect":"Allow","Action":"a:b"}`), "Statement[0].Resource", `Statement[0].Resource is required ("*" for every resource)`},
		{"resource bad prefix", stmt(`{"Effect":"Allow","Action":"a:b","Resource":"arn:aws:s3:::b"}`), "Statement[0].Resource",
			`Statement[0].Resource must be "*" or an ARN starting with "acs:" (got "arn:aws:s3:::b")`},
		{"resource short", stmt(`{"Effect":"Allow","Action":"a:b","Resource":["*","acs:emr-serverless-spark:workspace/w-1"]}`), "Statement[0].Resource[1]",
			`Statement[0].Resource[1] must be an ARN acs:<service>:<region>:<account>:<resource>, e.g. "acs:emr-serverless-spark:*:*:workspace/*" (got "acs:emr-serverless-spark:workspace/w-1")`},
		{"resource empty", stmt(`{"Effect":"Allow","Action":"a:b","Resource":""}`), "Statement[0].Resource",
			`Statement[0].Resource must be "*" or an ARN starting with "acs:" (got "")`},
		{"principal", stmt(`{"Effect":"Allow","Action":"a:b","Resource":"*","Principal":{"RAM":"*"}}`), "Statement[0].Principal",
			`Statement[0].Principal is not allowed here: only resource-based policies (such as a role's trust policy) name a Principal`},
		{"notresource", stmt(`{"Effect":"Allow","Action":"a:b","NotResource":"*"}`), "Statement[0].NotResource",
			`Statement[0].NotResource is not supported: list the resources the statement covers in Resource`},
		{"unknown statement element", stmt(`{"Effect":"Allow","Action":"a:b","Resource":"*","Resources":"*"}`), "Statement[0].Resources",
			`Statement[0].Resources is not a known element: a statement has only Sid, Effect, Action, NotAction, Resource, Condition`},
		{"statement element case", stmt(`{"effect":"Allow"}`), "Statement[0].effect",
			`Statement[0].effect is not a known element; element names are case-sensitive: write "Effect"`},
		{"duplicate statement element", stmt(`{"Effect":"Allow","Effect":"Deny"}`), "Statement[0].Effect", `Statement[0].Effect appears more than once`},
		{"sid not string", stmt(`{"Sid":1,"Effect":"Allow","Action":"a:b","Resource":"*"}`), "Statement[0].Sid", `Statement[0].Sid must be a string, not a number`},
		{"condition not object", cond(`[]`), "Statement[0].Condition",
			`Statement[0].Condition must be an object {"<operator>": {"<key>": "<value>"}}, not an array`},
		{"unknown operator", cond(`{"StringEqualsIfExists":{"acs:SourceIp":"x"}}`), "Statement[0].Condition.StringEqualsIfExists",
			`Statement[0].Condition.StringEqualsIfExists is not a condition operator RAM supports (String*, Numeric*, Date*, Bool, IpAddress, NotIpAddress)`},
		{"operator case", cond(`{"stringequals":{"acs:SourceIp":"x"}}`), "Statement[0].Condition.stringequals",
			`Statement[0].Condition.stringequals is not a known condition operator; operators are case-sensitive: write "StringEquals"`},
		{"duplicate operator", cond(`{"Bool":{"acs:SecureTransport":"true"},"Bool":{"acs:SecureTransport":"true"}}`), "Statement[0].Condition.Bool",
			`Statement[0].Condition.Bool appears more than once`},
		{"operator not object", cond(`{"Bool":"true"}`), "Statement[0].Condition.Bool",
			`Statement[0].Condition.Bool must be an object {"<key>": "<value>"}, not a string`},
		{"operator without keys", cond(`{"Bool":{}}`), "Statement[0].Condition.Bool", `Statement[0].Condition.Bool must name at least one condition key`},
		{"key format", cond(`{"StringEquals":{"SourceIp":"x"}}`), `Statement[0].Condition.StringEquals["SourceIp"]`,
			`Statement[0].Condition.StringEquals["SourceIp"] must be a condition key <prefix>:<name>, e.g. "acs:SourceIp" (got "SourceIp")`},
		{"key repeated in another case", cond(`{"StringEquals":{"acs:UserAgent":"a","ACS:useragent":"b"}}`), `Statement[0].Condition.StringEquals["ACS:useragent"]`,
			`Statement[0].Condition.StringEquals["ACS:useragent"] repeats the condition key "acs:UserAgent" (keys are case-insensitive)`},
		{"value null", cond(`{"StringEquals":{"acs:UserAgent":null}}`), `Statement[0].Condition.StringEquals["acs:UserAgent"]`,
			`Statement[0].Condition.StringEquals["acs:UserAgent"] must be a value or an array of values, not null`},
		{"values empty", cond(`{"StringEquals":{"acs:UserAgent":[]}}`), `Statement[0].Condition.StringEquals["acs:UserAgent"]`,
			`Statement[0].Condition.StringEquals["acs:UserAgent"] must hold at least one value`},
		{"value object", cond(`{"StringEquals":{"acs:UserAgent":["a",{}]}}`), `Statement[0].Condition.StringEquals["acs:UserAgent"][1]`,
			`Statement[0].Condition.StringEquals["acs:UserAgent"][1] must be a string, a number or a boolean, not an object`},
		{"bool several values", cond(`{"Bool":{"acs:SecureTransport":["true","false"]}}`), `Statement[0].Condition.Bool["acs:SecureTransport"]`,
			`Statement[0].Condition.Bool["acs:SecureTransport"] must hold exactly one value, true or false (RAM refuses several Boolean values)`},
		{"bool value", cond(`{"Bool":{"acs:SecureTransport":"yes"}}`), `Statement[0].Condition.Bool["acs:SecureTransport"]`,
			`Statement[0].Condition.Bool["acs:SecureTransport"] must be "true" or "false" for Bool (got "yes")`},
		{"ip value", cond(`{"IpAddress":{"acs:SourceIp":["10.0.0.0/8","300.1.1.1"]}}`), `Statement[0].Condition.IpAddress["acs:SourceIp"][1]`,
			`Statement[0].Condition.IpAddress["acs:SourceIp"][1] must be an IPv4 or IPv6 address or CIDR block such as 192.0.2.0/24 or 2001:db8::/32 for IpAddress (got "300.1.1.1")`},
		{"ip zone", cond(`{"NotIpAddress":{"acs:SourceIp":"fe80::1%eth0"}}`), `Statement[0].Condition.NotIpAddress["acs:SourceIp"]`,
			`Statement[0].Condition.NotIpAddress["acs:SourceIp"] must be an IPv4 or IPv6 address or CIDR block such as 192.0.2.0/24 or 2001:db8::/32 for NotIpAddress (got "fe80::1%eth0")`},
		{"date value", cond(`{"DateLessThan":{"acs:CurrentTime":"2026-01-01 00:00"}}`), `Statement[0].Condition.DateLessThan["acs:CurrentTime"]`,
			`Statement[0].Condition.DateLessThan["acs:CurrentTime"] must be an ISO 8601 time such as 2026-01-01T00:00:00Z or 2026-01-01T08:00:00+08:00, or a date such as 2026-01-01 for DateLessThan (got "2026-01-01 00:00")`},
		{"date without zone", cond(`{"DateEquals":{"acs:CurrentTime":"2026-01-01T00:00:00"}}`), `Statement[0].Condition.DateEquals["acs:CurrentTime"]`,
			`Statement[0].Condition.DateEquals["acs:CurrentTime"] must be an ISO 8601 time such as 2026-01-01T00:00:00Z or 2026-01-01T08:00:00+08:00, or a date such as 2026-01-01 for DateEquals (got "2026-01-01T00:00:00")`},
		{"numeric value", cond(`{"NumericEquals":{"acs:Custom":"ten"}}`), `Statement[0].Condition.NumericEquals["acs:Custom"]`,
			`Statement[0].Condition.NumericEquals["acs:Custom"] must be a number for NumericEquals (got "ten")`},
		{"numeric NaN", cond(`{"NumericEquals":{"acs:Custom":"NaN"}}`), `Statement[0].Condition.NumericEquals["acs:Custom"]`,
			`Statement[0].Condition.NumericEquals["acs:Custom"] must be a number for NumericEquals (got "NaN")`},
		{"error in second statement names it", stmt(`{"Effect":"Allow","Action":"a:b","Resource":"*"},{"Effect":"Deny","Action":"a:b","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"no"}}}`),
			`Statement[1].Condition.Bool["acs:SecureTransport"]`,
			`Statement[1].Condition.Bool["acs:SecureTransport"] must be "true" or "false" for Bool (got "no")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			if err.Error() != tt.err {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Field != tt.field {
				t.Errorf("Field = %q, want %q", pe.Field, tt.field)
			}
		})
	}
}

// A document that fits as written but not once every scalar condition value
// is written as a string would not survive storage; Parse refuses it.
func TestParseLimitAppliesToCanonicalForm(t *testing.T) {
	head := `{"Version":"1","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"NumericEquals":{`
	var keys []string
	for i := 0; ; i++ {
		keys = append(keys, `"k:`+strings.Repeat("k", 3)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))+`":1`)
		doc := head + strings.Join(keys, ",") + `}}}]}`
		if len(doc) > MaxDocumentChars-4 {
			break
		}
	}
	doc := head + strings.Join(keys, ",") + `}}}]}`
	if len(doc) > MaxDocumentChars {
		t.Fatalf("test document is %d long", len(doc))
	}
	_, err := Parse([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "once re-encoded in canonical form") {
		t.Fatalf("Parse(%d chars) = %v; want the canonical-length error", len(doc), err)
	}
}

func TestJSONCanonical(t *testing.T) {
	d := Document{Version: "1", Statement: []Statement{
		{
			Sid: `q"b\s<>&` + "\n\x01\u2028", Effect: "Allow",
			Action:    []string{"a:b"},
			Resource:  []string{"*", "acs:x:*:*:y"},
			Condition: Condition{"StringEquals": {"b:z": {"1"}, "a:y": {"2", "3"}}, "Bool": {"acs:SecureTransport": {"true"}}},
		},
		{Effect: "Deny", NotAction: []string{"ram:*", "sts:*"}, Resource: []string{"*"}},
	}}
	want := `{"Version":"1","Statement":[` +
		`{"Sid":"q\"b\\s<>&\n\u0001` + "\u2028" + `","Effect":"Allow","Action":"a:b","Resource":["*","acs:x:*:*:y"],` +
		`"Condition":{"Bool":{"acs:SecureTransport":"true"},"StringEquals":{"a:y":["2","3"],"b:z":"1"}}},` +
		`{"Effect":"Deny","NotAction":["ram:*","sts:*"],"Resource":"*"}]}`
	if got := string(d.JSON()); got != want {
		t.Fatalf("JSON()\n got: %s\nwant: %s", got, want)
	}
	back, err := Parse(d.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Fatalf("round trip:\n%#v\n%#v", back, d)
	}
}

func TestDocumentMarshalers(t *testing.T) {
	type wrapper struct {
		Doc Document `json:"doc"`
	}
	in := `{"doc":{"Version":"1","Statement":[{"Effect":"Allow","Action":["a:b"],"Resource":"*"}]}}`
	var w wrapper
	if err := json.Unmarshal([]byte(in), &w); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"doc":{"Version":"1","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]}}`; string(out) != want {
		t.Fatalf("Marshal = %s, want %s", out, want)
	}
	bad := `{"doc":{"Version":"1","Statement":[{"Effect":"allow","Action":"a:b","Resource":"*"}]}}`
	err = json.Unmarshal([]byte(bad), &w)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Field != "Statement[0].Effect" {
		t.Fatalf("Unmarshal of a bad document = %v; want a ParseError on Statement[0].Effect", err)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "OSS-Administrator", strings.Repeat("x", 128)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 129), "has space", "under_score", "é"} {
		if err := ValidName(bad); err == nil {
			t.Errorf("ValidName(%q) succeeded", bad)
		}
	}
}
