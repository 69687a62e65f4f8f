package authz

import (
	"testing"
	"time"
)

const (
	region  = "cn-hangzhou"
	account = "1234567890123456"
)

var (
	ws1   = WorkspaceARN(region, account, "w-1")
	ws2   = WorkspaceARN(region, account, "w-2")
	ws10  = WorkspaceARN(region, account, "w-10")
	c1    = ClusterARN(region, account, "w-1", "ray-a")
	c2    = ClusterARN(region, account, "w-2", "ray-b")
	other = ClusterARN(region, "6543210987654321", "w-1", "ray-a")
)

// custom parses a one-policy document for a test; it fails the test on a
// parse error.
func custom(t *testing.T, name, doc string) Policy {
	t.Helper()
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("policy %s: %v", name, err)
	}
	return Policy{Name: name, Type: TypeCustom, Document: d, DefaultVersion: "v1"}
}

func allow(action, resource string) string {
	return `{"Version":"1","Statement":[{"Effect":"Allow","Action":` + action + `,"Resource":` + resource + `}]}`
}

func deny(action, resource string) string {
	return `{"Version":"1","Statement":[{"Effect":"Deny","Action":` + action + `,"Resource":` + resource + `}]}`
}

func req(action, resource string) Request {
	return Request{Action: action, Resource: resource, SourceIP: "192.0.2.10", SecureTransport: true, Now: t0}
}

func TestEvaluateMatching(t *testing.T) {
	get := ActionName("GetRayCluster")
	tests := []struct {
		name   string
		policy string
		req    Request
		want   bool
	}{
		// Actions
		{"exact action", allow(`"emr-serverless-spark:GetRayCluster"`, `"*"`), req(get, c1), true},
		{"other action", allow(`"emr-serverless-spark:GetRayCluster"`, `"*"`), req(ActionName("DeleteRayCluster"), c1), false},
		{"service wildcard", allow(`"emr-serverless-spark:*"`, `"*"`), req(get, c1), true},
		{"everything", allow(`"*"`, `"*"`), req("ram:CreateUser", "*"), true},
		{"prefix wildcard", allow(`"emr-serverless-spark:Get*"`, `"*"`), req(get, c1), true},
		{"suffix wildcard", allow(`"emr-serverless-spark:*RayCluster"`, `"*"`), req(ActionName("StopRayCluster"), c1), true},
		{"suffix wildcard misses job", allow(`"emr-serverless-spark:*RayCluster"`, `"*"`), req(ActionName("SubmitRayJob"), c1), false},
		{"question mark", allow(`"emr-serverless-spark:?etRayCluster"`, `"*"`), req(get, c1), true},
		{"action case-insensitive", allow(`"EMR-SERVERLESS-SPARK:getraycluster"`, `"*"`), req(get, c1), true},
		{"request action case-insensitive", allow(`"emr-serverless-spark:GetRayCluster"`, `"*"`), req("emr-serverless-spark:getRAYcluster", c1), true},
		{"other service", allow(`"emr-serverless-spark:*"`, `"*"`), req("ram:CreateUser", "*"), false},
		{"ram wildcard", allow(`"ram:*"`, `"*"`), req("ram:CreateUser", "*"), true},
		{"one of several actions", allow(`["ram:ListUsers","emr-serverless-spark:GetRayCluster"]`, `"*"`), req(get, c1), true},

		// Resources: levels of the ARN
		{"workspace ARN exact", allow(`"emr-serverless-spark:*"`, `"`+ws1+`"`), req(ActionName("ListRayCluster"), ws1), true},
		{"workspace ARN does not cover its clusters", allow(`"emr-serverless-spark:*"`, `"`+ws1+`"`), req(get, c1), false},
		{"workspace/* covers clusters of w-1", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1/*"`), req(get, c1), true},
		{"workspace/* not clusters of w-2", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1/*"`), req(get, c2), false},
		{"workspace/* not the workspace itself", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1/*"`), req(get, ws1), false},
		{"any region and account, one workspace", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1"`), req(get, ws1), true},
		{"w-1 does not match w-10", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1"`), req(get, ws10), false},
		{"w-1* does match w-10", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1*"`), req(get, ws10), true},
		{"every workspace", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/*"`), req(get, c2), true},
		{"every cluster in any workspace", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/*/raycluster/*"`), req(get, c2), true},
		{"every cluster misses workspace", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/*/raycluster/*"`), req(get, ws2), false},
		{"one cluster", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1/raycluster/ray-a"`), req(get, c1), true},
		{"account pinned", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:`+account+`:workspace/*"`), req(get, c1), true},
		{"account pinned, other account", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:`+account+`:workspace/*"`), req(get, other), false},
		{"region pinned", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:cn-beijing:*:workspace/*"`), req(get, c1), false},
		{"resource case-sensitive", allow(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/W-1/*"`), req(get, c1), false},
		{"star resource covers account-level", allow(`"emr-serverless-spark:ListWorkspaces"`, `"*"`), req(ActionName("ListWorkspaces"), "*"), true},
		{"ARN pattern does not cover account-level *", allow(`"emr-serverless-spark:ListWorkspaces"`, `"acs:emr-serverless-spark:*:*:workspace/*"`), req(ActionName("ListWorkspaces"), "*"), false},
		{"one of several resources", allow(`"emr-serverless-spark:*"`, `["`+ws2+`","acs:emr-serverless-spark:*:*:workspace/w-1/*"]`), req(get, c1), true},

		// NotAction
		{"NotAction allows the rest", `{"Version":"1","Statement":[{"Effect":"Allow","NotAction":"ram:*","Resource":"*"}]}`, req(get, c1), true},
		{"NotAction excludes", `{"Version":"1","Statement":[{"Effect":"Allow","NotAction":"ram:*","Resource":"*"}]}`, req("ram:CreateUser", "*"), false},
		{"NotAction excludes case-insensitively", `{"Version":"1","Statement":[{"Effect":"Allow","NotAction":"RAM:*","Resource":"*"}]}`, req("ram:CreateUser", "*"), false},

		// Requests without an action or a resource
		{"empty action", allow(`"*"`, `"*"`), req("", c1), false},
		{"empty resource", allow(`"*"`, `"*"`), req(get, ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := custom(t, "p", tt.policy)
			d := Evaluate([]Policy{p}, tt.req)
			if d.Allowed != tt.want {
				t.Fatalf("Evaluate(%s on %s) = %+v, want allowed=%v", tt.req.Action, tt.req.Resource, d, tt.want)
			}
		})
	}
}

func TestEvaluateConditions(t *testing.T) {
	get := ActionName("GetRayCluster")
	withCond := func(effect, cond string) string {
		return `{"Version":"1","Statement":[{"Effect":"` + effect + `","Action":"emr-serverless-spark:*","Resource":"*","Condition":` + cond + `}]}`
	}
	fullAccess := custom(t, "full", allow(`"*"`, `"*"`))
	tests := []struct {
		name     string
		policies []string
		base     bool // also hold an unconditional allow of everything
		req      func(*Request)
		want     string
	}{
		{"allow from office network", []string{withCond("Allow", `{"IpAddress":{"acs:SourceIp":"192.0.2.0/24"}}`)}, false, nil, EffectAllow},
		{"allow from office network, elsewhere", []string{withCond("Allow", `{"IpAddress":{"acs:SourceIp":"192.0.2.0/24"}}`)}, false,
			func(r *Request) { r.SourceIP = "203.0.113.5" }, ImplicitDeny},
		{"allow over IPv6 range", []string{withCond("Allow", `{"IpAddress":{"acs:SourceIp":["192.0.2.0/24","2001:db8::/32"]}}`)}, false,
			func(r *Request) { r.SourceIP = "2001:db8::42" }, EffectAllow},
		{"deny outside network", []string{withCond("Deny", `{"NotIpAddress":{"acs:SourceIp":"192.0.2.0/24"}}`)}, true,
			func(r *Request) { r.SourceIP = "203.0.113.5" }, ExplicitDeny},
		{"deny outside network, inside", []string{withCond("Deny", `{"NotIpAddress":{"acs:SourceIp":"192.0.2.0/24"}}`)}, true, nil, EffectAllow},
		{"allow until a date", []string{withCond("Allow", `{"DateLessThan":{"acs:CurrentTime":"2026-06-01T00:00:00Z"}}`)}, false, nil, EffectAllow},
		{"allow until a date, after", []string{withCond("Allow", `{"DateLessThan":{"acs:CurrentTime":"2026-06-01T00:00:00Z"}}`)}, false,
			func(r *Request) { r.Now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }, ImplicitDeny},
		{"allow in a window", []string{withCond("Allow", `{"DateGreaterThanEquals":{"acs:CurrentTime":"2026-01-01"},"DateLessThan":{"acs:CurrentTime":"2026-12-31"}}`)}, false, nil, EffectAllow},
		{"allow in a window, before", []string{withCond("Allow", `{"DateGreaterThanEquals":{"acs:CurrentTime":"2026-04-01"},"DateLessThan":{"acs:CurrentTime":"2026-12-31"}}`)}, false, nil, ImplicitDeny},
		{"deny plain HTTP", []string{withCond("Deny", `{"Bool":{"acs:SecureTransport":"false"}}`)}, true,
			func(r *Request) { r.SecureTransport = false }, ExplicitDeny},
		{"deny plain HTTP, over TLS", []string{withCond("Deny", `{"Bool":{"acs:SecureTransport":"false"}}`)}, true, nil, EffectAllow},
		{"allow needs every operator", []string{withCond("Allow", `{"Bool":{"acs:SecureTransport":"true"},"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}`)}, false, nil, ImplicitDeny},

		// Undecidable conditions keep access closed.
		{"allow on a key rayfleet lacks", []string{withCond("Allow", `{"StringEquals":{"acs:SourceVpc":"vpc-1"}}`)}, false, nil, ImplicitDeny},
		{"negated allow on a key rayfleet lacks", []string{withCond("Allow", `{"StringNotEquals":{"acs:SourceVpc":"vpc-1"}}`)}, false, nil, ImplicitDeny},
		{"deny unless from a VPC rayfleet cannot see", []string{withCond("Deny", `{"StringNotEquals":{"acs:SourceVpc":"vpc-1"}}`)}, true, nil, ExplicitDeny},
		{"deny on a tag rayfleet lacks", []string{withCond("Deny", `{"StringEquals":{"acs:ResourceTag/env":"prod"}}`)}, true, nil, ExplicitDeny},
		{"deny outside network, address unknown", []string{withCond("Deny", `{"NotIpAddress":{"acs:SourceIp":"192.0.2.0/24"}}`)}, true,
			func(r *Request) { r.SourceIP = "" }, ExplicitDeny},
		{"allow from network, address unknown", []string{withCond("Allow", `{"IpAddress":{"acs:SourceIp":"192.0.2.0/24"}}`)}, false,
			func(r *Request) { r.SourceIP = "" }, ImplicitDeny},
		{"allow until a date, no clock", []string{withCond("Allow", `{"DateLessThan":{"acs:CurrentTime":"2030-01-01"}}`)}, false,
			func(r *Request) { r.Now = time.Time{} }, ImplicitDeny},
		{"deny decided false despite an unknown key", []string{withCond("Deny", `{"Bool":{"acs:SecureTransport":"false"},"StringEquals":{"acs:SourceVpc":"vpc-1"}}`)}, true, nil, EffectAllow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []Policy
			if tt.base {
				ps = append(ps, fullAccess)
			}
			for i, doc := range tt.policies {
				ps = append(ps, custom(t, "p"+string(rune('0'+i)), doc))
			}
			r := req(get, c1)
			if tt.req != nil {
				tt.req(&r)
			}
			d := Evaluate(ps, r)
			if d.Effect != tt.want || d.Allowed != (tt.want == EffectAllow) {
				t.Fatalf("Evaluate = %+v, want %s", d, tt.want)
			}
		})
	}
}

func TestEvaluatePrecedence(t *testing.T) {
	get := ActionName("GetRayCluster")
	allowAll := custom(t, "allow-all", allow(`"emr-serverless-spark:*"`, `"*"`))
	denyW1 := custom(t, "deny-w1", deny(`"emr-serverless-spark:*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1/*"`))
	denyDelete := custom(t, "deny-delete", deny(`"emr-serverless-spark:Delete*"`, `"*"`))
	mixed := custom(t, "mixed", `{"Version":"1","Statement":[
		{"Effect":"Allow","Action":"emr-serverless-spark:*","Resource":"*"},
		{"Effect":"Deny","Action":"emr-serverless-spark:StopRayCluster","Resource":"*"}]}`)

	tests := []struct {
		name     string
		policies []Policy
		req      Request
		want     Decision
	}{
		{"no policies", nil, req(get, c1), Decision{Effect: ImplicitDeny, Statement: -1}},
		{"no match", []Policy{custom(t, "ram", allow(`"ram:*"`, `"*"`))}, req(get, c1), Decision{Effect: ImplicitDeny, Statement: -1}},
		{"allow", []Policy{allowAll}, req(get, c1),
			Decision{Allowed: true, Effect: EffectAllow, Policy: "allow-all", PolicyType: TypeCustom, Statement: 0}},
		{"deny in another policy beats allow", []Policy{allowAll, denyW1}, req(get, c1),
			Decision{Effect: ExplicitDeny, Policy: "deny-w1", PolicyType: TypeCustom, Statement: 0}},
		{"deny first in order beats allow after", []Policy{denyW1, allowAll}, req(get, c1),
			Decision{Effect: ExplicitDeny, Policy: "deny-w1", PolicyType: TypeCustom, Statement: 0}},
		{"deny elsewhere does not apply", []Policy{allowAll, denyW1}, req(get, c2),
			Decision{Allowed: true, Effect: EffectAllow, Policy: "allow-all", PolicyType: TypeCustom, Statement: 0}},
		{"deny alone is still a deny", []Policy{denyDelete}, req(ActionName("DeleteRayCluster"), c1),
			Decision{Effect: ExplicitDeny, Policy: "deny-delete", PolicyType: TypeCustom, Statement: 0}},
		{"deny alone, other action: implicit", []Policy{denyDelete}, req(get, c1), Decision{Effect: ImplicitDeny, Statement: -1}},
		{"deny in same document, later statement", []Policy{mixed}, req(ActionName("StopRayCluster"), c1),
			Decision{Effect: ExplicitDeny, Policy: "mixed", PolicyType: TypeCustom, Statement: 1}},
		{"first deny is reported", []Policy{allowAll, denyDelete, denyW1}, req(ActionName("DeleteRayCluster"), c1),
			Decision{Effect: ExplicitDeny, Policy: "deny-delete", PolicyType: TypeCustom, Statement: 0}},
		{"system policy allow", SystemPolicies(), req(get, c1),
			Decision{Allowed: true, Effect: EffectAllow, Policy: "AdministratorAccess", PolicyType: TypeSystem, Statement: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Evaluate(tt.policies, tt.req); got != tt.want {
				t.Fatalf("Evaluate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Statements whose Effect is not Allow or Deny can only come from code; they
// neither allow nor deny.
func TestEvaluateIgnoresUnknownEffect(t *testing.T) {
	p := Policy{Name: "odd", Document: Document{Version: "1", Statement: []Statement{
		{Effect: "allow", Action: []string{"*"}, Resource: []string{"*"}},
		{Effect: "", Action: []string{"*"}, Resource: []string{"*"}},
	}}}
	if d := Evaluate([]Policy{p}, req("a:b", "*")); d.Allowed || d.Effect != ImplicitDeny {
		t.Fatalf("Evaluate = %+v", d)
	}
	// A statement with neither Action nor NotAction covers nothing.
	p.Document.Statement = []Statement{{Effect: EffectAllow, Resource: []string{"*"}}}
	if d := Evaluate([]Policy{p}, req("a:b", "*")); d.Allowed {
		t.Fatalf("Evaluate = %+v", d)
	}
}

func TestSystemPolicies(t *testing.T) {
	ps := SystemPolicies()
	names := map[string]Policy{}
	for _, p := range ps {
		if p.Type != TypeSystem || p.DefaultVersion != "v1" || p.Description == "" {
			t.Errorf("%s: %+v", p.Name, p)
		}
		names[p.Name] = p
	}
	for _, n := range []string{"AdministratorAccess", "AliyunRAMFullAccess", "AliyunEMRServerlessSparkFullAccess", "AliyunEmrServerlessSparkReadOnlyAccess"} {
		if _, ok := names[n]; !ok {
			t.Errorf("missing system policy %s", n)
		}
	}
	// Fresh copies: changing one does not change the next call's.
	ps[0].Document.Statement[0].Action[0] = "changed:x"
	if SystemPolicies()[0].Document.Statement[0].Action[0] != "*" {
		t.Fatal("SystemPolicies shares its documents")
	}

	ro, ok := SystemPolicy("AliyunEMRServerlessSparkReadOnlyAccess") // the spelling in rayfleet's brief
	if !ok || ro.Name != "AliyunEmrServerlessSparkReadOnlyAccess" {
		t.Fatalf("SystemPolicy read-only = %+v, %v", ro, ok)
	}
	full, _ := SystemPolicy("AliyunEMRServerlessSparkFullAccess")
	ramFull, _ := SystemPolicy("AliyunRAMFullAccess")
	admin, _ := SystemPolicy("AdministratorAccess")
	if _, ok := SystemPolicy("NoSuchPolicy"); ok {
		t.Fatal("found a policy that does not exist")
	}

	tests := []struct {
		policy Policy
		action string
		arn    string
		want   bool
	}{
		{ro, "GetRayCluster", c1, true},
		{ro, "ListRayCluster", ws1, true},
		{ro, "ListWorkspaces", "*", true},
		{ro, "ListReleaseVersions", "*", true},
		{ro, "GetRayJob", c1, true},
		{ro, "ListRayLogs", c1, true},
		{ro, "CreateRayCluster", ws1, false},
		{ro, "StartRayCluster", c1, false},
		{ro, "StopRayCluster", c1, false},
		{ro, "DeleteRayCluster", c1, false},
		{ro, "SubmitRayJob", c1, false},
		{full, "CreateRayCluster", ws1, true},
		{full, "DeleteRayCluster", c1, true},
		{full, "CreateWorkspace", "*", true},
		{admin, "DeleteRayCluster", c1, true},
		{ramFull, "DeleteRayCluster", c1, false},
	}
	for _, tt := range tests {
		if got := Evaluate([]Policy{tt.policy}, req(ActionName(tt.action), tt.arn)).Allowed; got != tt.want {
			t.Errorf("%s: %s = %v, want %v", tt.policy.Name, tt.action, got, tt.want)
		}
	}
	// RAM actions: only the RAM and administrator policies.
	for _, p := range []Policy{ro, full} {
		if Evaluate([]Policy{p}, req("ram:CreateUser", "*")).Allowed {
			t.Errorf("%s allows ram:CreateUser", p.Name)
		}
	}
	for _, p := range []Policy{ramFull, admin} {
		if !Evaluate([]Policy{p}, req("ram:CreateUser", "*")).Allowed {
			t.Errorf("%s does not allow ram:CreateUser", p.Name)
		}
	}
	// The service-linked-role statement's condition key is never present.
	if Evaluate([]Policy{full}, req("ram:CreateServiceLinkedRole", "*")).Allowed {
		t.Error("FullAccess allowed ram:CreateServiceLinkedRole without ram:ServiceName")
	}
}

func TestCanList(t *testing.T) {
	list := ActionName("ListRayCluster")
	arns := []string{ws1, ws2, ws10}
	tests := []struct {
		name     string
		policies []Policy
		want     []bool
	}{
		{"nothing", nil, []bool{false, false, false}},
		{"all", []Policy{custom(t, "ro", allow(`"emr-serverless-spark:List*"`, `"*"`))}, []bool{true, true, true}},
		{"one workspace", []Policy{custom(t, "w1", allow(`"emr-serverless-spark:List*"`, `"acs:emr-serverless-spark:*:*:workspace/w-1"`))}, []bool{true, false, false}},
		{"all but a denied one", []Policy{
			custom(t, "ro", allow(`"emr-serverless-spark:List*"`, `"*"`)),
			custom(t, "no-w2", deny(`"*"`, `"acs:emr-serverless-spark:*:*:workspace/w-2"`)),
		}, []bool{true, false, true}},
		{"other action only", []Policy{custom(t, "get", allow(`"emr-serverless-spark:GetRayCluster"`, `"*"`))}, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CanList(tt.policies, list, arns, Request{SourceIP: "192.0.2.1", Now: t0})
			if len(got) != len(tt.want) {
				t.Fatalf("CanList = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("CanList = %v, want %v", got, tt.want)
				}
			}
		})
	}
	if got := CanList(nil, list, nil, Request{}); len(got) != 0 {
		t.Fatalf("CanList of nothing = %v", got)
	}
}

func TestARNs(t *testing.T) {
	if got, want := WorkspaceARN("cn-hangzhou", "1234567890123456", "w-0123456789abcdef"),
		"acs:emr-serverless-spark:cn-hangzhou:1234567890123456:workspace/w-0123456789abcdef"; got != want {
		t.Errorf("WorkspaceARN = %s, want %s", got, want)
	}
	if got, want := ClusterARN("cn-hangzhou", "1234567890123456", "w-0123456789abcdef", "ray-abcdefgh12345678"),
		"acs:emr-serverless-spark:cn-hangzhou:1234567890123456:workspace/w-0123456789abcdef/raycluster/ray-abcdefgh12345678"; got != want {
		t.Errorf("ClusterARN = %s, want %s", got, want)
	}
	if checkResource(c1) != "" || checkResource(ws1) != "" {
		t.Error("ARNs built here do not pass Parse's ARN check")
	}
	if got := ActionName("GetRayCluster"); got != "emr-serverless-spark:GetRayCluster" {
		t.Errorf("ActionName = %s", got)
	}
}

func TestMayDeny(t *testing.T) {
	list := ActionName("ListRayCluster")
	tests := []struct {
		name     string
		policies []Policy
		want     bool
	}{
		{"nothing", nil, false},
		{"allows only", append(SystemPolicies(), custom(t, "ro", allow(`"emr-serverless-spark:List*"`, `"*"`))), false},
		{"deny of the action on one cluster", []Policy{custom(t, "d", deny(`"emr-serverless-spark:ListRayCluster"`, `"`+c1+`"`))}, true},
		{"deny by wildcard", []Policy{custom(t, "d", deny(`"emr-serverless-spark:List*"`, `"*"`))}, true},
		{"deny of another action", []Policy{custom(t, "d", deny(`"emr-serverless-spark:DeleteRayCluster"`, `"*"`))}, false},
		{"deny of every action but this one", []Policy{custom(t, "d", `{"Version":"1","Statement":[{"Effect":"Deny","NotAction":"emr-serverless-spark:ListRayCluster","Resource":"*"}]}`)}, false},
		{"deny of every action but another", []Policy{custom(t, "d", `{"Version":"1","Statement":[{"Effect":"Deny","NotAction":"emr-serverless-spark:GetRayCluster","Resource":"*"}]}`)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MayDeny(tt.policies, list); got != tt.want {
				t.Fatalf("MayDeny = %v, want %v", got, tt.want)
			}
		})
	}
}
