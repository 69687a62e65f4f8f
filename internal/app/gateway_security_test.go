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
// end: 128 random bits, a new one per instance, only their SHA-256 in the
// store (the database files never hold the token itself), and a stopped
// instance's token refused once the gateway's cache lets it go.
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
	stored, err := srv.Store.ClusterForGateway(ctx, ws, first.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(first.SubmitToken))
	if stored.TokenHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored token hash %q is not the token's SHA-256", stored.TokenHash)
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
