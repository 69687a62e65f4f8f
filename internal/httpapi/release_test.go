package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/rayfleet/rayfleet/api"
)

// ListReleaseVersions serves releaseType, serviceFilter and workspaceId,
// and refuses values it does not know.
func TestListReleaseVersionsFilters(t *testing.T) {
	c, ws := rootClient(t)
	ctx := context.Background()
	all, err := c.ListReleaseVersions(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query url.Values
		want  int
	}{
		{url.Values{"releaseType": {"stable"}}, len(all.ReleaseVersions)},
		{url.Values{"releaseType": {"beta"}}, 0},
		{url.Values{"serviceFilter": {"ray"}}, len(all.ReleaseVersions)},
		{url.Values{"serviceFilter": {"Ray"}, "workspaceId": {ws}, "regionId": {"local"}}, len(all.ReleaseVersions)},
		{url.Values{"releaseVersion": {all.ReleaseVersions[1].ReleaseVersion}, "releaseType": {"stable"}}, 1},
	} {
		l, err := c.ListReleaseVersions(ctx, tc.query)
		if err != nil {
			t.Fatalf("%v: %v", tc.query, err)
		}
		if len(l.ReleaseVersions) != tc.want || l.TotalCount != tc.want {
			t.Errorf("%v: %d versions (total %d), want %d", tc.query, len(l.ReleaseVersions), l.TotalCount, tc.want)
		}
	}
	for _, tc := range []struct {
		query url.Values
		code  string
		msg   string
	}{
		{url.Values{"releaseType": {"nightly"}}, "InvalidParameter", "releaseType must be stable or beta"},
		{url.Values{"serviceFilter": {"spark"}}, "InvalidParameter", "all Ray engines"},
		{url.Values{"workspaceId": {"w-0000000000000000"}}, "ResourceNotFound", "w-0000000000000000"},
		{url.Values{"regionId": {"cn-shanghai"}}, "InvalidParameter", "cn-shanghai"},
	} {
		var out api.ListReleaseVersionsResponse
		err := c.Do(ctx, "ListReleaseVersions", http.MethodGet, "/api/v1/releaseVersions", tc.query, nil, &out)
		wantAPIError(t, tc.query.Encode(), err, tc.code, tc.msg)
	}
}
