package storetest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// NewStore returns a fresh, empty store for one test and arranges with
// t.Cleanup for it to be closed.
type NewStore func(t *testing.T) store.Store

// Run runs the conformance suite against the backend newStore opens, one
// subtest per promise of the contract, each on a store of its own.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore NewStore)
	}{
		{"Fixtures", testFixtures},
		{"Accounts", testAccounts},
		{"Users", testUsers},
		{"AccessKeys", testAccessKeys},
		{"RAMUsers", testRAMUsers},
		{"AccessKeyLifecycle", testAccessKeyLifecycle},
		{"Policies", testPolicies},
		{"PolicyVersions", testPolicyVersions},
		{"Attachments", testAttachments},
		{"Audit", testAudit},
		{"AuditRetention", testAuditRetention},
		{"Workspaces", testWorkspaces},
		{"ListWorkspaces", testListWorkspaces},
		{"DeleteWorkspace", testDeleteWorkspace},
		{"Queues", testQueues},
		{"NetworkServices", testNetworkServices},
		{"ClusterCRUD", testClusterCRUD},
		{"ClusterRoundTrip", testClusterRoundTrip},
		{"Times", testTimes},
		{"UpdateCluster", testUpdateCluster},
		{"UpdateClusterRace", testUpdateClusterRace},
		{"UpdateClusterFrom", testUpdateClusterFrom},
		{"ListClusters", testListClusters},
		{"ClustersAreTheCallers", testClustersAreTheCallers},
		{"DeletedClusters", testDeletedClusters},
		{"ClustersHoldingCapacity", testClustersHoldingCapacity},
		{"CapacityInUse", testCapacityInUse},
		{"Quota", testQuota},
		{"ClientTokens", testClientTokens},
		{"ListClusterRefs", testListClusterRefs},
		{"CountClustersByState", testCountClustersByState},
		{"JobFixtures", testJobFixtures},
		{"JobCRUD", testJobCRUD},
		{"ListJobs", testListJobs},
		{"UpdateJob", testUpdateJob},
		{"SetJobStatus", testSetJobStatus},
		{"SetJobStatusRace", testSetJobStatusRace},
		{"UnfinishedJobs", testUnfinishedJobs},
		{"AccountIsolation", testAccountIsolation},
		{"Idempotency", testIdempotency},
		{"GatewayLookups", testGatewayLookups},
		{"DataPlaneTokens", testDataPlaneTokens},
		{"DataPlaneTokenExpiry", testDataPlaneTokenExpiry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore) })
	}
}

// must fails the test on an unexpected error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantCode checks that err carries a *rayfleet.Error with code, and that its
// message, which callers see, gives nothing of the database away.
func wantCode(t *testing.T, err error, code, doing string) {
	t.Helper()
	var e *rayfleet.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: got error %v, want a *rayfleet.Error with code %s", doing, err, code)
	}
	if e.Code != code {
		t.Fatalf("%s: got code %s (%v), want %s", doing, e.Code, err, code)
	}
	msg := strings.ToLower(e.Message)
	for _, leak := range []string{"sql", "constraint", "duplicate key", "violat", "pq:", ".go:"} {
		if strings.Contains(msg, leak) {
			t.Fatalf("%s: message %q shows database internals (%q)", doing, e.Message, leak)
		}
	}
}

func wantNotFound(t *testing.T, err error, doing string) {
	t.Helper()
	wantCode(t, err, rayfleet.ENOTFOUND, doing)
}

func wantEqual[T any](t *testing.T, got, want T, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// checkAllSet fails when a field of v is zero, except those named: a
// fixture that leaves a field zero cannot show a store forgetting it, so a
// field added to a domain type must be added to its fixture (and to the
// stores) before this passes again.
func checkAllSet(t *testing.T, v any, except ...string) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if !f.IsExported() || slices.Contains(except, f.Name) {
			continue
		}
		if rv.Field(i).IsZero() {
			t.Errorf("%s fixture leaves %s zero: set it so the round-trip covers it (and make the stores persist it)", rv.Type().Name(), f.Name)
		}
	}
}
