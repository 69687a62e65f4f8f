package authz

import (
	"fmt"
	"unicode/utf8"
)

// Service is the RAM code of the product rayfleet imitates; its actions are
// "emr-serverless-spark:<OperationName>" and its ARNs start
// "acs:emr-serverless-spark:".
const Service = "emr-serverless-spark"

// MaxDocumentChars is the longest policy document RAM accepts (CreatePolicy:
// "The document must be 1 to 6,144 characters in length").
const MaxDocumentChars = 6144

// Statement effects.
const (
	EffectAllow = "Allow"
	EffectDeny  = "Deny"
)

// Decision effects besides EffectAllow. They are also the values of
// NoPermissionType in an AccessDeniedDetail.
const (
	ExplicitDeny = "ExplicitDeny"
	ImplicitDeny = "ImplicitDeny"
)

// Policy types, as RAM names them.
const (
	TypeSystem = "System"
	TypeCustom = "Custom"
)

// Policy is a named policy document that can be attached to users.
type Policy struct {
	Name           string
	Type           string // TypeSystem or TypeCustom
	Description    string
	Document       Document
	DefaultVersion string // "v1", "v2"...: the version in force
}

// Document is a parsed policy document. Parse fills it in a normalized form:
// every list is a slice (a single string in the JSON becomes a one-element
// slice) and an absent or empty Condition is nil.
type Document struct {
	Version   string // always "1"
	Statement []Statement
}

// Statement is one rule of a document. Exactly one of Action and NotAction
// is set.
type Statement struct {
	Sid       string   // optional label; evaluation ignores it
	Effect    string   // EffectAllow or EffectDeny
	Action    []string // "<ram-code>:<action-name>" patterns, "*" and "?" wildcards, case-insensitive
	NotAction []string // every action except these
	Resource  []string // "*" or ARN patterns, "*" and "?" wildcards, case-sensitive
	Condition Condition
}

// Condition maps an operator ("StringEquals", "IpAddress"...) to condition
// keys ("acs:SourceIp"...) and each key to the values it is compared with.
// Every key under every operator must hold (AND); a key holds when the
// request's value matches any of its values (OR), or, for the negated
// operators (StringNotEquals, NotIpAddress...), matches none of them. A
// condition rayfleet cannot decide (a key the request lacks, a request value
// of the wrong type) counts against an Allow statement and for a Deny
// statement; see Evaluate.
type Condition map[string]map[string][]string

// ActionName returns the full action name of one of the product's operations,
// e.g. ActionName("GetRayCluster") == "emr-serverless-spark:GetRayCluster".
func ActionName(operation string) string { return Service + ":" + operation }

// WorkspaceARN names a workspace in a Resource element or a Request:
// acs:emr-serverless-spark:<region>:<account>:workspace/<workspaceId>.
// This resource-level form is rayfleet's own; the hosted product authorizes
// at operation level only (every action on "*").
func WorkspaceARN(region, account, workspaceID string) string {
	return "acs:" + Service + ":" + region + ":" + account + ":workspace/" + workspaceID
}

// ClusterARN names a Ray cluster:
// acs:emr-serverless-spark:<region>:<account>:workspace/<workspaceId>/raycluster/<clusterId>.
// A Resource pattern ".../workspace/w-1/*" covers every cluster of w-1 but
// not the workspace itself; list both patterns to grant both.
func ClusterARN(region, account, workspaceID, clusterID string) string {
	return WorkspaceARN(region, account, workspaceID) + "/raycluster/" + clusterID
}

// JobARN names a Ray job by its submission id:
// acs:emr-serverless-spark:<region>:<account>:workspace/<workspaceId>/rayjob/<submissionId>.
// ".../workspace/w-1/rayjob/*" covers every job of w-1. Its logs (ListRayLogs,
// GetRayLog) are authorized on it too.
func JobARN(region, account, workspaceID, submissionID string) string {
	return WorkspaceARN(region, account, workspaceID) + "/rayjob/" + submissionID
}

// ValidName checks a custom policy's name as RAM's CreatePolicy does: 1 to
// 128 characters, letters, digits and hyphens.
func ValidName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 128 {
		return fmt.Errorf("policy name must be 1 to 128 characters long")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("policy name %q may contain only letters, digits and hyphens", name)
		}
	}
	return nil
}
