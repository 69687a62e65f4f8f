package authz

import "strings"

// The system policies rayfleet ships, with the documents Alibaba Cloud
// publishes for them (RAM "System policy" reference pages), so that a policy
// attached on the hosted product means the same here. Statements about other
// services (OSS, DLF, EMR, billing, the service-linked role) are kept as
// published: no rayfleet request names those actions, and the
// service-linked-role statement's condition key (ram:ServiceName) is absent
// from every request, so it never applies.
var systemPolicies = []struct {
	name, description, document string
}{
	{
		name:        "AdministratorAccess",
		description: "Provides full access to every action on every resource.",
		document:    `{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
	},
	{
		name:        "AliyunRAMFullAccess",
		description: "Provides full access to RAM: users, access keys and policies.",
		document:    `{"Version":"1","Statement":[{"Effect":"Allow","Action":"ram:*","Resource":"*"}]}`,
	},
	{
		name:        "AliyunEMRServerlessSparkFullAccess",
		description: "Provides full access to EMR Serverless Spark: every workspace, queue, Ray cluster and Ray job.",
		document: `{"Version":"1","Statement":[` +
			`{"Effect":"Allow","Action":"emr-serverless-spark:*","Resource":"*"},` +
			`{"Effect":"Allow","Action":["oss:ListBuckets","dlf:DescribeRegions","dlf:GetRegionStatus","dlf:ListCatalogs","dlf:ListDatabases","dlf:ListTables","emr:GetApmData","emr:QueryApmGrafanaData","bss:ModifyAgreementRecord"],"Resource":"*"},` +
			`{"Effect":"Allow","Action":"ram:CreateServiceLinkedRole","Resource":"*","Condition":{"StringEquals":{"ram:ServiceName":"spark.emr-serverless.aliyuncs.com"}}}]}`,
	},
	{
		// Alibaba spells this one "Emr", unlike its FullAccess sibling.
		name:        "AliyunEmrServerlessSparkReadOnlyAccess",
		description: "Provides read-only access to EMR Serverless Spark: Get*, List*, Query*, Is* and Check* operations.",
		document: `{"Version":"1","Statement":[{"Effect":"Allow","Action":["emr-serverless-spark:Get*","emr-serverless-spark:List*",` +
			`"emr-serverless-spark:Query*","emr-serverless-spark:Is*","emr-serverless-spark:Check*"],"Resource":"*"}]}`,
	},
}

// SystemPolicies returns the built-in policies, each of Type TypeSystem and
// version v1: AdministratorAccess (every action), AliyunRAMFullAccess
// (ram:*), AliyunEMRServerlessSparkFullAccess (emr-serverless-spark:* on
// every resource) and AliyunEmrServerlessSparkReadOnlyAccess (the Get, List,
// Query, Is and Check operations: for Ray, GetRayCluster, ListRayCluster,
// GetRayJob, ListRayJob, GetRayLog, ListRayLogs, and the workspace, queue and
// release-version listings). Each call returns fresh copies.
func SystemPolicies() []Policy {
	out := make([]Policy, 0, len(systemPolicies))
	for _, sp := range systemPolicies {
		doc, err := Parse([]byte(sp.document))
		if err != nil {
			panic("authz: system policy " + sp.name + ": " + err.Error()) // a bug in this file; the tests parse them
		}
		out = append(out, Policy{Name: sp.name, Type: TypeSystem, Description: sp.description, Document: doc, DefaultVersion: "v1"})
	}
	return out
}

// SystemPolicy returns the built-in policy of that name. Names compare
// case-insensitively, so "AliyunEMRServerlessSparkReadOnlyAccess" finds
// Alibaba's "AliyunEmrServerlessSparkReadOnlyAccess".
func SystemPolicy(name string) (Policy, bool) {
	for _, p := range SystemPolicies() {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return Policy{}, false
}
