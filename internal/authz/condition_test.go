package authz

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// baseReq is a request every test condition is evaluated against unless the
// case changes it.
func baseReq() Request {
	return Request{
		Action:          "emr-serverless-spark:GetRayCluster",
		Resource:        ClusterARN("cn-hangzhou", "1234567890123456", "w-1", "ray-1"),
		SourceIP:        "192.0.2.10",
		SecureTransport: true,
		Now:             t0,
		UserAgent:       "rayfleet-cli/1.0",
	}
}

func TestConditionOperators(t *testing.T) {
	type c = Condition
	tests := []struct {
		name string
		cond Condition
		req  func(*Request) // changes to baseReq; nil for none
		want tri
	}{
		// String
		{"StringEquals match", c{"StringEquals": {"acs:UserAgent": {"rayfleet-cli/1.0"}}}, nil, triTrue},
		{"StringEquals case differs", c{"StringEquals": {"acs:UserAgent": {"RAYFLEET-CLI/1.0"}}}, nil, triFalse},
		{"StringEquals any value", c{"StringEquals": {"acs:UserAgent": {"x", "rayfleet-cli/1.0"}}}, nil, triTrue},
		{"StringNotEquals none match", c{"StringNotEquals": {"acs:UserAgent": {"x", "y"}}}, nil, triTrue},
		{"StringNotEquals one matches", c{"StringNotEquals": {"acs:UserAgent": {"x", "rayfleet-cli/1.0"}}}, nil, triFalse},
		{"StringEqualsIgnoreCase", c{"StringEqualsIgnoreCase": {"acs:UserAgent": {"RAYFLEET-CLI/1.0"}}}, nil, triTrue},
		{"StringNotEqualsIgnoreCase", c{"StringNotEqualsIgnoreCase": {"acs:UserAgent": {"RAYFLEET-CLI/1.0"}}}, nil, triFalse},
		{"StringLike star", c{"StringLike": {"acs:UserAgent": {"rayfleet-*"}}}, nil, triTrue},
		{"StringLike question", c{"StringLike": {"acs:UserAgent": {"rayfleet-cli/?.?"}}}, nil, triTrue},
		{"StringLike is case-sensitive", c{"StringLike": {"acs:UserAgent": {"RAYFLEET-*"}}}, nil, triFalse},
		{"StringNotLike", c{"StringNotLike": {"acs:UserAgent": {"curl/*"}}}, nil, triTrue},
		{"StringNotLike matching", c{"StringNotLike": {"acs:UserAgent": {"curl/*", "rayfleet*"}}}, nil, triFalse},
		{"string operators read any key as text", c{"StringEquals": {"acs:SecureTransport": {"true"}}}, nil, triTrue},
		{"string operator on current time", c{"StringLike": {"acs:CurrentTime": {"2026-03-01T*"}}}, nil, triTrue},
		{"key name is case-insensitive", c{"StringEquals": {"ACS:USERAGENT": {"rayfleet-cli/1.0"}}}, nil, triTrue},
		{"acs:Referer", c{"StringLike": {"acs:Referer": {"https://console.example.com/*"}}}, func(r *Request) { r.Referer = "https://console.example.com/x" }, triTrue},

		// Numeric, on a value only a string key can carry here
		{"NumericEquals", c{"NumericEquals": {"acs:UserAgent": {"42"}}}, func(r *Request) { r.UserAgent = "42.0" }, triTrue},
		{"NumericNotEquals", c{"NumericNotEquals": {"acs:UserAgent": {"41", "43"}}}, func(r *Request) { r.UserAgent = "42" }, triTrue},
		{"NumericLessThan", c{"NumericLessThan": {"acs:UserAgent": {"42"}}}, func(r *Request) { r.UserAgent = "41.5" }, triTrue},
		{"NumericLessThan equal", c{"NumericLessThan": {"acs:UserAgent": {"42"}}}, func(r *Request) { r.UserAgent = "42" }, triFalse},
		{"NumericLessThanEquals", c{"NumericLessThanEquals": {"acs:UserAgent": {"42"}}}, func(r *Request) { r.UserAgent = "42" }, triTrue},
		{"NumericGreaterThan", c{"NumericGreaterThan": {"acs:UserAgent": {"42"}}}, func(r *Request) { r.UserAgent = "1e3" }, triTrue},
		{"NumericGreaterThanEquals", c{"NumericGreaterThanEquals": {"acs:UserAgent": {"42"}}}, func(r *Request) { r.UserAgent = "-1" }, triFalse},
		{"Numeric on a non-number", c{"NumericEquals": {"acs:UserAgent": {"1"}}}, nil, triUnknown},

		// Date
		{"DateLessThan before", c{"DateLessThan": {"acs:CurrentTime": {"2026-03-01T12:00:01Z"}}}, nil, triTrue},
		{"DateLessThan same second", c{"DateLessThan": {"acs:CurrentTime": {"2026-03-01T12:00:00Z"}}}, nil, triFalse},
		{"DateLessThan compares to the second", c{"DateLessThan": {"acs:CurrentTime": {"2026-03-01T12:00:00.9Z"}}}, nil, triFalse},
		{"DateLessThanEquals", c{"DateLessThanEquals": {"acs:CurrentTime": {"2026-03-01T12:00:00Z"}}}, nil, triTrue},
		{"DateGreaterThan", c{"DateGreaterThan": {"acs:CurrentTime": {"2026-03-01"}}}, nil, triTrue},
		{"DateGreaterThan after", c{"DateGreaterThan": {"acs:CurrentTime": {"2026-03-02"}}}, nil, triFalse},
		{"DateGreaterThanEquals", c{"DateGreaterThanEquals": {"acs:CurrentTime": {"2026-03-01T12:00:00Z"}}}, nil, triTrue},
		{"DateEquals with offset", c{"DateEquals": {"acs:CurrentTime": {"2026-03-01T20:00:00+08:00"}}}, nil, triTrue},
		{"DateEquals ignores sub-second", c{"DateEquals": {"acs:CurrentTime": {"2026-03-01T12:00:00Z"}}}, func(r *Request) { r.Now = t0.Add(300 * time.Millisecond) }, triTrue},
		{"DateNotEquals", c{"DateNotEquals": {"acs:CurrentTime": {"2026-03-01T12:00:00Z"}}}, nil, triFalse},
		{"DateLessThan any value", c{"DateLessThan": {"acs:CurrentTime": {"2020-01-01", "2030-01-01"}}}, nil, triTrue},
		{"Now in another zone", c{"DateLessThan": {"acs:CurrentTime": {"2026-03-01T12:00:01Z"}}}, func(r *Request) { r.Now = t0.In(time.FixedZone("x", 8*3600)) }, triTrue},
		{"Date on a non-date key", c{"DateLessThan": {"acs:UserAgent": {"2030-01-01"}}}, nil, triUnknown},

		// Bool
		{"Bool true", c{"Bool": {"acs:SecureTransport": {"true"}}}, nil, triTrue},
		{"Bool false", c{"Bool": {"acs:SecureTransport": {"false"}}}, nil, triFalse},
		{"Bool over HTTP", c{"Bool": {"acs:SecureTransport": {"false"}}}, func(r *Request) { r.SecureTransport = false }, triTrue},
		{"Bool value case", c{"Bool": {"acs:SecureTransport": {"TRUE"}}}, nil, triTrue},
		{"Bool on a non-boolean", c{"Bool": {"acs:UserAgent": {"true"}}}, nil, triUnknown},

		// IP
		{"IpAddress in CIDR", c{"IpAddress": {"acs:SourceIp": {"192.0.2.0/24"}}}, nil, triTrue},
		{"IpAddress outside CIDR", c{"IpAddress": {"acs:SourceIp": {"198.51.100.0/24"}}}, nil, triFalse},
		{"IpAddress single address", c{"IpAddress": {"acs:SourceIp": {"192.0.2.10"}}}, nil, triTrue},
		{"IpAddress single address differs", c{"IpAddress": {"acs:SourceIp": {"192.0.2.11"}}}, nil, triFalse},
		{"IpAddress any value", c{"IpAddress": {"acs:SourceIp": {"10.0.0.0/8", "192.0.2.0/28"}}}, nil, triTrue},
		{"IpAddress host bits in CIDR", c{"IpAddress": {"acs:SourceIp": {"192.0.2.99/24"}}}, nil, triTrue},
		{"IpAddress request with port", c{"IpAddress": {"acs:SourceIp": {"192.0.2.0/24"}}}, func(r *Request) { r.SourceIP = "192.0.2.10:51234" }, triTrue},
		{"IpAddress IPv4-mapped request", c{"IpAddress": {"acs:SourceIp": {"192.0.2.0/24"}}}, func(r *Request) { r.SourceIP = "::ffff:192.0.2.10" }, triTrue},
		{"IpAddress IPv4-mapped policy", c{"IpAddress": {"acs:SourceIp": {"::ffff:192.0.2.0/120"}}}, nil, triTrue},
		{"IpAddress IPv6", c{"IpAddress": {"acs:SourceIp": {"2001:db8::/32"}}}, func(r *Request) { r.SourceIP = "2001:db8:85a3::8a2e:370:7334" }, triTrue},
		{"IpAddress IPv6 outside", c{"IpAddress": {"acs:SourceIp": {"2001:db8::/32"}}}, func(r *Request) { r.SourceIP = "2001:db9::1" }, triFalse},
		{"IpAddress IPv6 with port and zone", c{"IpAddress": {"acs:SourceIp": {"fe80::/10"}}}, func(r *Request) { r.SourceIP = "[fe80::1%eth0]:443" }, triTrue},
		{"IpAddress IPv6 bracketed", c{"IpAddress": {"acs:SourceIp": {"::1"}}}, func(r *Request) { r.SourceIP = "[::1]" }, triTrue},
		{"IpAddress v4 policy, v6 client", c{"IpAddress": {"acs:SourceIp": {"0.0.0.0/0"}}}, func(r *Request) { r.SourceIP = "2001:db8::1" }, triFalse},
		{"NotIpAddress outside", c{"NotIpAddress": {"acs:SourceIp": {"10.0.0.0/8", "172.16.0.0/12"}}}, nil, triTrue},
		{"NotIpAddress inside", c{"NotIpAddress": {"acs:SourceIp": {"10.0.0.0/8", "192.0.2.0/24"}}}, nil, triFalse},
		{"IpAddress on a garbage address", c{"IpAddress": {"acs:SourceIp": {"0.0.0.0/0"}}}, func(r *Request) { r.SourceIP = "not-an-ip" }, triUnknown},

		// Several keys and operators: AND
		{"two keys both hold", c{"StringEquals": {"acs:UserAgent": {"rayfleet-cli/1.0"}, "acs:SecureTransport": {"true"}}}, nil, triTrue},
		{"two keys one fails", c{"StringEquals": {"acs:UserAgent": {"rayfleet-cli/1.0"}, "acs:SecureTransport": {"false"}}}, nil, triFalse},
		{"two operators both hold", c{"IpAddress": {"acs:SourceIp": {"192.0.2.0/24"}}, "Bool": {"acs:SecureTransport": {"true"}}}, nil, triTrue},
		{"two operators one fails", c{"IpAddress": {"acs:SourceIp": {"192.0.2.0/24"}}, "Bool": {"acs:SecureTransport": {"false"}}}, nil, triFalse},
		{"false beats unknown", c{"Bool": {"acs:SecureTransport": {"false"}}, "StringEquals": {"acs:MFAPresent": {"true"}}}, nil, triFalse},
		{"unknown with a true", c{"Bool": {"acs:SecureTransport": {"true"}}, "StringEquals": {"acs:MFAPresent": {"true"}}}, nil, triUnknown},

		// Undecidable
		{"key rayfleet does not know", c{"StringEquals": {"acs:SourceVpc": {"vpc-1"}}}, nil, triUnknown},
		{"negated operator, unknown key", c{"StringNotEquals": {"acs:SourceVpc": {"vpc-1"}}}, nil, triUnknown},
		{"source IP absent", c{"NotIpAddress": {"acs:SourceIp": {"10.0.0.0/8"}}}, func(r *Request) { r.SourceIP = "" }, triUnknown},
		{"time absent", c{"DateLessThan": {"acs:CurrentTime": {"2030-01-01"}}}, func(r *Request) { r.Now = time.Time{} }, triUnknown},
		{"user agent absent", c{"StringLike": {"acs:UserAgent": {"*"}}}, func(r *Request) { r.UserAgent = "" }, triUnknown},
		{"unknown operator", c{"StringEqualsIfExists": {"acs:UserAgent": {"x"}}}, nil, triUnknown},
		{"no values", c{"StringEquals": {"acs:UserAgent": {}}}, nil, triUnknown},
		{"unreadable policy value", c{"IpAddress": {"acs:SourceIp": {"nonsense"}}}, nil, triUnknown},
		{"unreadable value, another matches", c{"IpAddress": {"acs:SourceIp": {"nonsense", "192.0.2.0/24"}}}, nil, triTrue},
		{"unreadable value, negated, another matches", c{"NotIpAddress": {"acs:SourceIp": {"nonsense", "192.0.2.0/24"}}}, nil, triFalse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := baseReq()
			if tt.req != nil {
				tt.req(&req)
			}
			if got := tt.cond.holds(&reqContext{req: &req}); got != tt.want {
				t.Fatalf("holds = %v, want %v", got, tt.want)
			}
		})
	}
}

// Every operator in the table is accepted by Parse and decides a request.
func TestEveryOperatorParses(t *testing.T) {
	values := map[opKind]string{
		kindString:  `"x"`,
		kindNumeric: `"1"`,
		kindDate:    `"2026-01-01T00:00:00Z"`,
		kindBool:    `"true"`,
		kindIP:      `"10.0.0.0/8"`,
	}
	for name, op := range operators {
		doc := `{"Version":"1","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"` + name + `":{"acs:SourceIp":` + values[op.kind] + `}}}]}`
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(operators) != 21 {
		t.Errorf("%d operators; RAM documents 21 (6 string, 6 numeric, 6 date, Bool, IpAddress, NotIpAddress)", len(operators))
	}
}
