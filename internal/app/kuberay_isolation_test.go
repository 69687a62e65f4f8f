package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// TestKubeRayIsolation: a cluster the server runs on Kubernetes has its
// NetworkPolicy (its own pods, and the gateway's on the head's ports) and a
// Ray token of its instance in a secret its pods read, and the gateway
// sends that token upstream as "Authorization: Bearer"; a restart brings a
// new token, which the gateway sends from then on; a delete leaves nothing.
//
// What this cannot show: kwok runs no container and the stack has no
// network plugin, so no Ray head checks the token and nothing enforces the
// policy. The head Service's name resolves only inside a Kubernetes
// cluster, so the gateway's request goes to a stand-in head on loopback:
// a second gateway on the server's store and runtime, whose lookup asks
// the runtime whether the head is ready and for its token, and sends the
// request to the stand-in.
func TestKubeRayIsolation(t *testing.T) {
	e := newKubeEnv(t)
	ctx := context.Background()
	ws := e.cred.WorkspaceID
	resp, err := e.api.CreateCluster(ctx, ws, &api.ClusterRequest{
		Name: ptr("isolated"), HeadSpec: &api.HeadSpec{CPU: "500m", Memory: "1Gi", Env: "RAY_AUTH_MODE=disabled"},
		WorkerSpec: &[]api.WorkerSpec{{GroupName: "g", Replica: 1, CPU: "500m", Memory: "512Mi"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ClusterID
	cl := waitState(t, e.api, ws, id, "Running", runningWith(1))

	var np networkingv1.NetworkPolicy
	if err := e.kube.Get(ctx, ctrlclient.ObjectKey{Namespace: e.ns(ws), Name: id + "-ingress"}, &np); err != nil {
		t.Fatalf("NetworkPolicy: %v", err)
	}
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.pods(ws, id) {
		if !sel.Matches(labels.Set(p.Labels)) {
			t.Errorf("the NetworkPolicy does not select pod %s", p.Name)
		}
	}
	if len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[1].From) != 1 {
		t.Fatalf("ingress rules: %+v", np.Spec.Ingress)
	}
	// The gateway's peers are the configured (default) ones: deploy/'s pods.
	gw := np.Spec.Ingress[1].From[0]
	if gw.PodSelector == nil || gw.PodSelector.MatchLabels["app.kubernetes.io/name"] != "rayfleet" ||
		gw.NamespaceSelector == nil || gw.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "rayfleet" {
		t.Errorf("gateway peer %+v", gw)
	}

	head := newStandInHead(t)
	gwAddr := standInGateway(t, e, head.addr)
	tok := e.rayToken(ws, id, cl.InstanceID)
	if got := head.authorizationFor(t, gwAddr, ws, id, cl.SubmitToken); got != "Bearer "+tok {
		t.Errorf("the gateway sent Authorization %q, want the instance's Ray token", got)
	}

	// A restart: a new instance, a new token, the old one's secret gone.
	if _, err := e.api.StopCluster(ctx, ws, id, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.api, ws, id, "Stopped", func(c *api.Cluster) bool { return c.State == "Stopped" })
	if _, err := e.api.StartCluster(ctx, ws, id, &api.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	cl2 := waitState(t, e.api, ws, id, "Running again", runningWith(1))
	tok2 := e.rayToken(ws, id, cl2.InstanceID)
	if tok2 == tok {
		t.Fatal("the new instance has the old instance's token")
	}
	if got := head.authorizationFor(t, gwAddr, ws, id, cl2.SubmitToken); got != "Bearer "+tok2 {
		t.Errorf("after the restart the gateway sent Authorization %q, want the new instance's token", got)
	}
	poll.UntilSeen(t, kubeWait, "the old instance's token secret gone", func() (bool, string) {
		var s corev1.Secret
		err := e.kube.Get(ctx, ctrlclient.ObjectKey{Namespace: e.ns(ws), Name: cl.InstanceID + "-ray-token"}, &s)
		return err != nil, fmt.Sprint(err)
	}, kubeEvery)

	e.deleteUntilGone(ws, id)
}

// rayToken reads the Ray token of a cluster instance from its secret, and
// checks that every Ray container of the instance's pods turns token
// authentication on (an env line saying otherwise notwithstanding) and
// reads the token from that secret, never inline.
func (e *kubeEnv) rayToken(ws, id, instance string) string {
	e.t.Helper()
	var s corev1.Secret
	if err := e.kube.Get(context.Background(), ctrlclient.ObjectKey{Namespace: e.ns(ws), Name: instance + "-ray-token"}, &s); err != nil {
		e.t.Fatalf("token secret of %s: %v", instance, err)
	}
	tok := string(s.Data["auth_token"])
	if len(tok) != 64 {
		e.t.Fatalf("token of %s: %d characters", instance, len(tok))
	}
	for _, p := range e.pods(ws, id) {
		if p.Labels["rayfleet.io/instance"] != instance {
			continue
		}
		env := map[string]corev1.EnvVar{}
		for _, v := range p.Spec.Containers[0].Env {
			if v.Value == tok {
				e.t.Errorf("pod %s has the token inline in %s", p.Name, v.Name)
			}
			env[v.Name] = v
		}
		ref := env["RAY_AUTH_TOKEN"].ValueFrom
		if env["RAY_AUTH_MODE"].Value != "token" || ref == nil || ref.SecretKeyRef == nil ||
			ref.SecretKeyRef.Name != s.Name || ref.SecretKeyRef.Key != "auth_token" {
			e.t.Errorf("pod %s: RAY_AUTH_MODE %+v RAY_AUTH_TOKEN %+v", p.Name, env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN"])
		}
	}
	return tok
}

// standInHead is an HTTP server in a head's place that records the
// Authorization header of what it is sent.
type standInHead struct {
	addr string
	mu   sync.Mutex
	last string
}

func newStandInHead(t *testing.T) *standInHead {
	t.Helper()
	h := &standInHead{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.last = r.Header.Get("Authorization")
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ray_version":"2.60.0"}`)
	}))
	t.Cleanup(srv.Close)
	h.addr = srv.Listener.Addr().String()
	return h
}

// authorizationFor sends the job API's GET /api/version through the
// gateway at gwAddr with a user's cluster token, and returns the
// Authorization header the head got. The gateway's cache may still hold
// the previous instance's token for a moment: it asks until the request
// passes with this user token.
func (h *standInHead) authorizationFor(t *testing.T, gwAddr, ws, id, userToken string) string {
	t.Helper()
	url := "http://" + gwAddr + "/workspace/" + ws + "/raycluster/" + id + "/api/version"
	var got string
	poll.UntilSeen(t, kubeWait, "the gateway to pass the request to the head", func() (bool, string) {
		h.mu.Lock()
		h.last = ""
		h.mu.Unlock()
		code, body := gatewayGet(t, http.DefaultClient, url, userToken)
		h.mu.Lock()
		got = h.last
		h.mu.Unlock()
		return code == http.StatusOK && strings.Contains(body, "ray_version"), fmt.Sprintf("%d %s", code, body)
	}, kubeEvery)
	return got
}

// standInGateway starts a gateway on e's store and runtime whose requests
// for a cluster's head go to addr once the runtime reports the head ready.
func standInGateway(t *testing.T, e *kubeEnv, addr string) string {
	t.Helper()
	cfg := e.srv.Config
	cfg.Gateway.Listen, cfg.Gateway.GRPCListen, cfg.Gateway.CacheTTL = "127.0.0.1:0", "127.0.0.1:0", 0
	lookup := gatewayLookup{store: e.srv.Store, runtime: redirectedHead{real: e.srv.Runtime, addr: addr}, svc: e.srv.Service}
	logger := slog.New(slog.DiscardHandler)
	g, err := listenGateway(cfg, lookup, nil, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	g.serve(logger)
	t.Cleanup(func() { _ = g.shutdown(context.Background()) })
	return g.httpAddr
}

// redirectedHead is the runtime's head lookup with the head's address
// replaced by addr; the token is the runtime's own.
type redirectedHead struct {
	real headEndpoints
	addr string
}

func (r redirectedHead) HeadEndpoints(c *rayfleet.Cluster) (string, string, bool) {
	_, _, ok := r.real.HeadEndpoints(c)
	return r.addr, r.addr, ok
}

func (r redirectedHead) HeadToken(c *rayfleet.Cluster) string { return r.real.HeadToken(c) }
