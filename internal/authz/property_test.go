package authz

import (
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Small vocabularies, so that generated statements and requests often meet.
var (
	genActions = []string{
		"*", "emr-serverless-spark:*", "emr-serverless-spark:GetRayCluster", "emr-serverless-spark:Get*",
		"emr-serverless-spark:?eleteRayCluster", "EMR-SERVERLESS-SPARK:listraycluster", "ram:*", "ram:CreateUser",
	}
	genResources = []string{
		"*", ws1, ws2, c1, "acs:emr-serverless-spark:*:*:workspace/w-1/*", "acs:emr-serverless-spark:*:*:workspace/w-2",
		"acs:emr-serverless-spark:*:*:workspace/*/raycluster/*", "acs:emr-serverless-spark:cn-beijing:*:workspace/*",
	}
	genConditions = []struct{ op, key string }{
		{"IpAddress", "acs:SourceIp"}, {"NotIpAddress", "acs:SourceIp"},
		{"Bool", "acs:SecureTransport"},
		{"DateLessThan", "acs:CurrentTime"}, {"DateGreaterThanEquals", "acs:CurrentTime"}, {"DateEquals", "acs:CurrentTime"},
		{"StringLike", "acs:UserAgent"}, {"StringNotEquals", "acs:UserAgent"}, {"StringEqualsIgnoreCase", "acs:UserAgent"},
		{"StringEquals", "acs:SourceVpc"}, {"StringNotEquals", "acs:SourceVpc"},
	}
	genValues = map[string][]string{
		"acs:SourceIp":        {"192.0.2.0/24", "10.0.0.0/8", "2001:db8::/32", "192.0.2.10", "203.0.113.9"},
		"acs:SecureTransport": {"true", "false"},
		"acs:CurrentTime":     {"2026-01-01T00:00:00Z", "2026-06-01", "2026-03-01T12:00:00Z", "2026-03-01T20:00:00+08:00"},
		"acs:UserAgent":       {"rayfleet*", "curl/*", "RAYFLEET-CLI/1.0"},
		"acs:SourceVpc":       {"vpc-1"},
	}
	reqActions = []string{
		ActionName("GetRayCluster"), ActionName("DeleteRayCluster"), ActionName("ListRayCluster"),
		ActionName("CreateRayCluster"), "ram:CreateUser",
	}
	reqResources = []string{"*", ws1, ws2, c1, c2, other}
	reqIPs       = []string{"192.0.2.10", "10.1.2.3", "2001:db8::1", "203.0.113.9", "::ffff:192.0.2.7", ""}
	reqTimes     = []time.Time{t0, {}, time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)}
	reqAgents    = []string{"rayfleet-cli/1.0", "curl/8.0", ""}
)

func genStatement(effect string) *rapid.Generator[Statement] {
	return rapid.Custom(func(t *rapid.T) Statement {
		s := Statement{Effect: effect}
		if effect == "" {
			s.Effect = rapid.SampledFrom([]string{EffectAllow, EffectDeny}).Draw(t, "effect")
		}
		acts := rapid.SliceOfN(rapid.SampledFrom(genActions), 1, 3).Draw(t, "actions")
		if rapid.IntRange(0, 4).Draw(t, "not") == 0 {
			s.NotAction = acts
		} else {
			s.Action = acts
		}
		s.Resource = rapid.SliceOfN(rapid.SampledFrom(genResources), 1, 3).Draw(t, "resources")
		n := rapid.IntRange(0, 3).Draw(t, "conditions")
		for range n {
			c := rapid.SampledFrom(genConditions).Draw(t, "condition")
			vals := rapid.SliceOfNDistinct(rapid.SampledFrom(genValues[c.key]), 1, 3, rapid.ID).Draw(t, "values")
			if c.op == "Bool" {
				vals = vals[:1]
			}
			if s.Condition == nil {
				s.Condition = Condition{}
			}
			if s.Condition[c.op] == nil {
				s.Condition[c.op] = map[string][]string{}
			}
			s.Condition[c.op][c.key] = vals
		}
		return s
	})
}

func genPolicy(name string) *rapid.Generator[Policy] {
	return rapid.Custom(func(t *rapid.T) Policy {
		sts := rapid.SliceOfN(genStatement(""), 1, 4).Draw(t, "statements")
		return Policy{Name: name, Type: TypeCustom, Document: Document{Version: "1", Statement: sts}}
	})
}

func genPolicies(t *rapid.T) []Policy {
	n := rapid.IntRange(0, 4).Draw(t, "policies")
	ps := make([]Policy, n)
	for i := range ps {
		ps[i] = genPolicy("p"+string(rune('a'+i))).Draw(t, "policy")
	}
	return ps
}

func genRequest(t *rapid.T) Request {
	return Request{
		Action:          rapid.SampledFrom(reqActions).Draw(t, "action"),
		Resource:        rapid.SampledFrom(reqResources).Draw(t, "resource"),
		SourceIP:        rapid.SampledFrom(reqIPs).Draw(t, "ip"),
		SecureTransport: rapid.Bool().Draw(t, "tls"),
		Now:             rapid.SampledFrom(reqTimes).Draw(t, "now"),
		UserAgent:       rapid.SampledFrom(reqAgents).Draw(t, "ua"),
	}
}

// checkDecision holds for every decision Evaluate returns.
func checkDecision(t *rapid.T, d Decision) {
	switch d.Effect {
	case EffectAllow:
		if !d.Allowed || d.Policy == "" || d.Statement < 0 {
			t.Fatalf("inconsistent allow: %+v", d)
		}
	case ExplicitDeny:
		if d.Allowed || d.Policy == "" || d.Statement < 0 {
			t.Fatalf("inconsistent explicit deny: %+v", d)
		}
	case ImplicitDeny:
		if d.Allowed || d.Policy != "" || d.Statement != -1 {
			t.Fatalf("inconsistent implicit deny: %+v", d)
		}
	default:
		t.Fatalf("unknown effect: %+v", d)
	}
}

// Adding a Deny statement, anywhere, never turns a denial into an allow.
func TestPropertyDenyNeverGrants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ps := genPolicies(t)
		r := genRequest(t)
		before := Evaluate(ps, r)
		checkDecision(t, before)

		extra := genStatement(EffectDeny).Draw(t, "deny")
		var after Decision
		if len(ps) > 0 && rapid.Bool().Draw(t, "into existing") {
			i := rapid.IntRange(0, len(ps)-1).Draw(t, "which")
			withDeny := clonePolicies(ps)
			withDeny[i].Document.Statement = append(withDeny[i].Document.Statement, extra)
			after = Evaluate(withDeny, r)
		} else {
			after = Evaluate(append(clonePolicies(ps), Policy{Name: "extra", Document: Document{Version: "1", Statement: []Statement{extra}}}), r)
		}
		checkDecision(t, after)
		if after.Allowed && !before.Allowed {
			t.Fatalf("a Deny turned %+v into %+v", before, after)
		}
		if before.Effect == ExplicitDeny && after.Effect != ExplicitDeny {
			t.Fatalf("a Deny lifted an explicit deny: %+v → %+v", before, after)
		}
	})
}

// Adding an Allow statement never lifts an explicit deny and never takes
// access away.
func TestPropertyAllowNeverOverridesDeny(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ps := genPolicies(t)
		r := genRequest(t)
		before := Evaluate(ps, r)
		extra := genStatement(EffectAllow).Draw(t, "allow")
		after := Evaluate(append(clonePolicies(ps), Policy{Name: "extra", Document: Document{Version: "1", Statement: []Statement{extra}}}), r)
		checkDecision(t, after)
		if before.Effect == ExplicitDeny && after.Effect != ExplicitDeny {
			t.Fatalf("an Allow lifted an explicit deny: %+v → %+v", before, after)
		}
		if before.Allowed && !after.Allowed {
			t.Fatalf("an Allow took access away: %+v → %+v", before, after)
		}
	})
}

// The order of policies and of statements changes which statement is
// reported, never the outcome.
func TestPropertyOrderDoesNotMatter(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ps := genPolicies(t)
		r := genRequest(t)
		before := Evaluate(ps, r)
		shuffled := clonePolicies(rapid.Permutation(ps).Draw(t, "order"))
		for i := range shuffled {
			shuffled[i].Document.Statement = rapid.Permutation(shuffled[i].Document.Statement).Draw(t, "statements")
		}
		after := Evaluate(shuffled, r)
		if before.Allowed != after.Allowed || before.Effect != after.Effect {
			t.Fatalf("reordering changed %+v into %+v", before, after)
		}
	})
}

// Taking information out of the request never grants more: a key the
// request lacks counts against Allow and for Deny.
func TestPropertyMissingContextNeverGrants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ps := genPolicies(t)
		full := genRequest(t)
		less := full
		if rapid.Bool().Draw(t, "drop ip") {
			less.SourceIP = ""
		}
		if rapid.Bool().Draw(t, "drop time") {
			less.Now = time.Time{}
		}
		if rapid.Bool().Draw(t, "drop agent") {
			less.UserAgent = ""
		}
		withAll, withLess := Evaluate(ps, full), Evaluate(ps, less)
		if withLess.Allowed && !withAll.Allowed {
			t.Fatalf("less context granted more: %+v with %+v, %+v with %+v", withAll, full, withLess, less)
		}
		if withAll.Effect == ExplicitDeny && withLess.Effect != ExplicitDeny {
			t.Fatalf("less context lifted a deny: %+v → %+v", withAll, withLess)
		}
	})
}

// CanList is Evaluate item by item.
func TestPropertyCanListIsEvaluate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ps := genPolicies(t)
		r := genRequest(t)
		arns := rapid.SliceOfN(rapid.SampledFrom(reqResources), 0, 5).Draw(t, "arns")
		got := CanList(ps, r.Action, arns, r)
		for i, arn := range arns {
			r.Resource = arn
			if want := Evaluate(ps, r).Allowed; got[i] != want {
				t.Fatalf("CanList[%d] (%s) = %v, Evaluate says %v", i, arn, got[i], want)
			}
		}
	})
}

// A document round-trips through JSON and Parse, and JSON is a fixed point.
func TestPropertyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genPolicy("p").Draw(t, "policy")
		d := p.Document
		for i := range d.Statement {
			if rapid.Bool().Draw(t, "sid") {
				d.Statement[i].Sid = rapid.String().Draw(t, "sid text")
			}
		}
		j := d.JSON()
		back, err := Parse(j)
		if err != nil {
			t.Fatalf("Parse(%s): %v", j, err)
		}
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("round trip changed the document:\n%#v\n%#v", d, back)
		}
		if again := back.JSON(); string(again) != string(j) {
			t.Fatalf("JSON is not a fixed point:\n%s\n%s", j, again)
		}
	})
}

func clonePolicies(ps []Policy) []Policy {
	out := make([]Policy, len(ps))
	for i, p := range ps {
		out[i] = p
		out[i].Document.Statement = append([]Statement(nil), p.Document.Statement...)
	}
	return out
}
