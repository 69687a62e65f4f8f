package authz_test

import (
	"fmt"
	"time"

	"github.com/rayfleet/rayfleet/internal/authz"
)

func Example() {
	doc, err := authz.Parse([]byte(`{
	  "Version": "1",
	  "Statement": [
	    {"Effect": "Allow", "Action": "emr-serverless-spark:*",
	     "Resource": ["acs:emr-serverless-spark:*:*:workspace/w-1", "acs:emr-serverless-spark:*:*:workspace/w-1/*"],
	     "Condition": {"IpAddress": {"acs:SourceIp": "192.0.2.0/24"}}},
	    {"Effect": "Deny", "Action": "emr-serverless-spark:DeleteRayCluster", "Resource": "*"}
	  ]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	team := []authz.Policy{{Name: "team-w1", Type: authz.TypeCustom, Document: doc, DefaultVersion: "v1"}}
	ask := func(op, arn string) {
		d := authz.Evaluate(team, authz.Request{
			Action: authz.ActionName(op), Resource: arn,
			SourceIP: "192.0.2.7", SecureTransport: true, Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		})
		fmt.Printf("%s: %s (policy %q, statement %d)\n", op, d.Effect, d.Policy, d.Statement)
	}
	ask("GetRayCluster", authz.ClusterARN("cn-hangzhou", "1234567890123456", "w-1", "ray-a"))
	ask("GetRayCluster", authz.ClusterARN("cn-hangzhou", "1234567890123456", "w-2", "ray-b"))
	ask("DeleteRayCluster", authz.ClusterARN("cn-hangzhou", "1234567890123456", "w-1", "ray-a"))

	_, err = authz.Parse([]byte(`{"Version":"1","Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}`))
	fmt.Println(err)
	// Output:
	// GetRayCluster: Allow (policy "team-w1", statement 0)
	// GetRayCluster: ImplicitDeny (policy "", statement -1)
	// DeleteRayCluster: ExplicitDeny (policy "team-w1", statement 1)
	// Statement[0].Effect must be Allow or Deny (got "allow")
}
