package authz

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	`{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:GetRayCluster","Resource":"*"}]}`,
	`{"Version":"1","Statement":[{"Sid":"x","Effect":"Deny","NotAction":["ram:*","sts:*"],"Resource":["acs:emr-serverless-spark:*:*:workspace/w-1/*"]}]}`,
	`{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{` +
		`"IpAddress":{"acs:SourceIp":["192.0.2.0/24","2001:db8::/32"]},"NotIpAddress":{"acs:SourceIp":"10.0.0.1"},` +
		`"DateLessThan":{"acs:CurrentTime":"2026-01-01T00:00:00Z"},"DateGreaterThan":{"acs:CurrentTime":"2025-01-01"},` +
		`"Bool":{"acs:SecureTransport":true},"NumericEquals":{"a:b":[1,2.5e3]},` +
		`"StringLike":{"acs:UserAgent":"ray*"},"StringNotEqualsIgnoreCase":{"acs:Referer":"X"}}}]}`,
	`{"Version":"1","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{}}]}`,
	`{"Version":"1","Statement":[{"Sid":"\u2028\"\\\n\u0001é","Effect":"Allow","Action":"a:b","Resource":"*"}]}`,
	`{"Version":"1","Statement":[{"Effect":"allow","Action":"a:b","Resource":"*"}]}`,
	`{"Version":"1","Version":"1"}`,
	`{"Version":"1","Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"}]} x`,
	`[[[[[[[[[[`,
	``,
}

func init() {
	for _, p := range SystemPolicies() {
		fuzzSeeds = append(fuzzSeeds, string(p.Document.JSON()))
	}
}

// FuzzParse: Parse never panics, refuses only with a *ParseError, and what it
// accepts re-encodes to a document that parses to an equal one, whose JSON is
// the same bytes.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := Parse(doc)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			return
		}
		j := d.JSON()
		back, err := Parse(j)
		if err != nil {
			t.Fatalf("Parse(JSON()) failed: %v\ninput: %q\njson:  %s", err, doc, j)
		}
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip changed the document:\n%#v\n%#v", d, back)
		}
		if again := back.JSON(); !bytes.Equal(again, j) {
			t.Fatalf("JSON is not a fixed point:\n%s\n%s", j, again)
		}
		// Whatever was accepted can be evaluated.
		Evaluate([]Policy{{Name: "p", Document: d}}, Request{Action: "a:b", Resource: "*", SourceIP: "192.0.2.1", Now: t0})
	})
}

// FuzzEvaluate: Evaluate never panics and always returns a consistent
// decision, for parsed documents and for statements built from arbitrary
// strings (as code could build them), against arbitrary requests.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(fuzzSeeds[2]), "Allow", "emr-serverless-spark:*", "*", "IpAddress", "acs:SourceIp", "192.0.2.0/24",
		"emr-serverless-spark:GetRayCluster", c1, "192.0.2.10", "rayfleet", true, t0.Unix())
	f.Add([]byte(fuzzSeeds[1]), "Deny", "*", "acs:*", "DateLessThan", "acs:CurrentTime", "2026-01-01",
		"ram:CreateUser", "*", "[fe80::1%eth0]:80", "", false, int64(0))
	f.Add([]byte("{}"), "Allow", "a?*b", "**", "Bool", "ACS:SECURETRANSPORT", "TRUE",
		"a:b", "x", "not an ip", "curl", true, int64(-62135596800))
	f.Fuzz(func(t *testing.T, doc []byte, effect, action, resource, op, key, value,
		reqAction, reqResource, ip, ua string, secure bool, unix int64,
	) {
		raw := Policy{Name: "raw", Document: Document{Version: "1", Statement: []Statement{{
			Effect:    effect,
			Action:    []string{action},
			NotAction: []string{value},
			Resource:  []string{resource},
			Condition: Condition{op: {key: {value, action}}},
		}}}}
		policies := []Policy{raw}
		if d, err := Parse(doc); err == nil {
			policies = append(policies, Policy{Name: "parsed", Document: d})
		}
		r := Request{
			Action: reqAction, Resource: reqResource, SourceIP: ip, SecureTransport: secure,
			Now: time.Unix(unix, 0), UserAgent: ua, Referer: value,
		}
		d := Evaluate(policies, r)
		switch d.Effect {
		case EffectAllow:
			if !d.Allowed || d.Statement < 0 {
				t.Fatalf("inconsistent allow %+v", d)
			}
		case ExplicitDeny:
			if d.Allowed || d.Statement < 0 {
				t.Fatalf("inconsistent explicit deny %+v", d)
			}
		case ImplicitDeny:
			if d.Allowed || d.Statement != -1 || d.Policy != "" {
				t.Fatalf("inconsistent implicit deny %+v", d)
			}
		default:
			t.Fatalf("unknown effect %+v", d)
		}
		if again := Evaluate(policies, r); again != d {
			t.Fatalf("Evaluate is not deterministic: %+v then %+v", d, again)
		}
		if got := CanList(policies, reqAction, []string{reqResource}, r); got[0] != d.Allowed {
			t.Fatalf("CanList = %v, Evaluate = %+v", got, d)
		}
	})
}
