package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

// TestListRenderCache checks that a list renders each cluster once while it
// is unchanged, renders it again after any write, and that what it hands
// back is what rendering the cluster now gives.
func TestListRenderCache(t *testing.T) {
	s, p, ws := newService(t)
	s.Endpoints = service.Endpoints{URL: "http://gw.example", GRPCAddress: "gw.example:443"}
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		o, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr(fmt.Sprintf("c%d", i)),
			Head: &rayfleet.HeadSpec{CPU: "1", Memory: "1Gi"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ClusterID)
	}
	calls := map[string]int{}
	render := func(c *service.ClusterInfo) []byte {
		calls[c.ID]++
		return fmt.Appendf(nil, "%s|%s|%s|%s|%s", c.ID, c.State, c.Spec.Description, c.DashboardURL, c.GRPCEndpoint)
	}
	// want is the rendering of every cluster as GetRayCluster shows it now.
	check := func(when string, out *service.ListClustersOutput) {
		t.Helper()
		if out.Clusters != nil || len(out.Rendered) != 3 {
			t.Fatalf("%s: %d clusters, %d renderings", when, len(out.Clusters), len(out.Rendered))
		}
		for _, b := range out.Rendered {
			id, _, _ := strings.Cut(string(b), "|")
			info, err := s.GetCluster(ctx, p, ws, id)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%s|%s|%s|%s|%s", info.ID, info.State, info.Spec.Description, info.DashboardURL, info.GRPCEndpoint)
			if string(b) != want {
				t.Fatalf("%s: rendered %q, want %q", when, b, want)
			}
		}
	}
	list := func() *service.ListClustersOutput {
		t.Helper()
		out, err := s.ListClusters(ctx, p, service.ListClustersInput{WorkspaceID: ws, Render: render})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	check("first list", list())
	check("second list", list())
	for _, id := range ids {
		if calls[id] != 1 {
			t.Fatalf("cluster %s rendered %d times over two lists, want once", id, calls[id])
		}
	}
	// A write to one cluster renders that one again, and only it.
	if _, err := s.UpdateCluster(ctx, p, ws, ids[1], rayfleet.ClusterPatch{Description: ptr("changed")}, ""); err != nil {
		t.Fatal(err)
	}
	check("after an update", list())
	if calls[ids[0]] != 1 || calls[ids[1]] != 2 || calls[ids[2]] != 1 {
		t.Fatalf("renders after updating %s: %v", ids[1], calls)
	}
	// Stopping revokes the token, so the dashboard address changes.
	if _, err := s.StopCluster(ctx, p, ws, ids[2], "", ""); err != nil {
		t.Fatal(err)
	}
	check("after a stop", list())
	// Other gateway addresses render everything again.
	s.Endpoints.URL = "http://other.example"
	check("after the addresses changed", list())
	for _, id := range ids {
		if calls[id] < 2 {
			t.Fatalf("cluster %s not rendered again for new addresses: %v", id, calls)
		}
	}
	// Without Render, clusters come whole, tokens and addresses included.
	out, err := s.ListClusters(ctx, p, service.ListClustersInput{WorkspaceID: ws})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Clusters) != 3 || out.Rendered != nil || out.Clusters[0].JobURL == "" {
		t.Fatalf("list without Render: %+v", out)
	}
}
