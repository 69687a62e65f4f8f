package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
)

// TestGatewayTokens checks the submit tokens the gateway accepts, end to
// end: 128 random bits, the caller's own data-plane credential (not the
// instance's token, which stays inside rayfleet), a new one per instance,
// only their SHA-256 in the store beside the token sealed (the database
// files never hold the token itself), and a stopped instance's token
// refused once the gateway's cache lets it go.
func TestGatewayTokens(t *testing.T) {
	srv, cred := testServer(t)
	c := client(srv, cred)
	ctx := context.Background()
	ws := cred.WorkspaceID
	created, err := c.CreateCluster(ctx, ws, &api.ClusterRequest{Name: ptr("tokens"), HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}})
	if err != nil {
		t.Fatal(err)
	}
	running := func(cl *api.Cluster) bool { return cl.State == "Running" }
	first := waitCluster(t, c, ws, created.ClusterID, running)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(first.SubmitToken) {
		t.Fatalf("submitToken %q is not 32 hex digits (128 bits)", first.SubmitToken)
	}
	sum := sha256.Sum256([]byte(first.SubmitToken))
	stored, err := srv.Store.GetDataPlaneToken(ctx, hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatalf("no data-plane credential stored under the token's SHA-256: %v", err)
	}
	if stored.ClusterID != first.ClusterID || stored.InstanceID != first.InstanceID || stored.AccessKeyID != cred.AccessKeyID {
		t.Fatalf("the stored credential is for %s/%s, key %s", stored.ClusterID, stored.InstanceID, stored.AccessKeyID)
	}
	inst, err := srv.Store.ClusterForGateway(ctx, ws, first.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	if inst.TokenHash == stored.TokenHash {
		t.Fatal("the submitToken is the instance's own token")
	}
	for _, name := range []string{"rayfleet.db", "rayfleet.db-wal"} {
		data, err := os.ReadFile(filepath.Join(srv.Config.DataDir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(first.SubmitToken)) {
			t.Fatalf("%s holds the submit token in clear", name)
		}
	}

	status := func(token string) int {
		code, _ := gatewayGet(t, http.DefaultClient, first.JobURL+"/api/version", token)
		return code
	}
	if code := status(first.SubmitToken); code != 200 {
		t.Fatalf("the token of the running instance: %d", code)
	}

	// Stop and start: a new instance, a new token; the old one is refused.
	if _, err := c.StopCluster(ctx, ws, first.ClusterID, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	stopped := waitCluster(t, c, ws, first.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Stopped" })
	if stopped.SubmitToken != "" {
		t.Fatalf("a stopped cluster still shows a submitToken")
	}
	revokedWithin(t, gatewayCacheTTL+time.Second, "the stopped instance's token", func() int { return status(first.SubmitToken) })
	if _, err := c.StartCluster(ctx, ws, first.ClusterID, &api.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	second := waitCluster(t, c, ws, first.ClusterID, running)
	if second.SubmitToken == "" || second.SubmitToken == first.SubmitToken {
		t.Fatalf("the restarted instance's token %q, the first was %q", second.SubmitToken, first.SubmitToken)
	}
	if code := status(second.SubmitToken); code != 200 {
		t.Fatalf("the new instance's token: %d", code)
	}
	if code := status(first.SubmitToken); code != 401 {
		t.Fatalf("the first instance's token on the second instance: %d", code)
	}
}
