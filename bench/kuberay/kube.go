package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// stack is a test stack this program started with scripts/kube/up.sh.
type stack struct {
	dir, downSh, kubeconfig string
	upTime                  time.Duration
}

func startStack(ctx context.Context, root, dir string) (*stack, error) {
	scripts := filepath.Join(root, "scripts", "kube")
	ports, err := freePorts(7)
	if err != nil {
		return nil, err
	}
	env := os.Environ()
	for i, name := range []string{"ETCD_PORT", "ETCD_PEER_PORT", "APISERVER_PORT", "SCHEDULER_PORT",
		"CONTROLLER_MANAGER_PORT", "OPERATOR_METRICS_PORT", "OPERATOR_PROBE_PORT"} {
		env = append(env, fmt.Sprintf("RAYFLEET_KUBE_%s=%d", name, ports[i]))
	}
	logf("starting the test stack (scripts/kube/up.sh %s)", dir)
	t := time.Now()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(scripts, "up.sh"), dir)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("scripts/kube/up.sh: %w\n%s", err, stderr.String())
	}
	st := &stack{dir: dir, downSh: filepath.Join(scripts, "down.sh"), upTime: time.Since(t)}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export KUBECONFIG="); ok {
			st.kubeconfig = strings.Trim(p, `'"`)
		}
	}
	if st.kubeconfig == "" {
		_ = st.stop()
		return nil, fmt.Errorf("scripts/kube/up.sh printed no KUBECONFIG:\n%s", stdout.String())
	}
	logf("stack up in %s", st.upTime.Round(100*time.Millisecond))
	return st, nil
}

func (s *stack) stop() error {
	out, err := exec.Command("bash", s.downSh, s.dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/kube/down.sh: %w\n%s", err, out)
	}
	return nil
}

func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// kube is an admin client of the stack.
type kube struct {
	c client.WithWatch
}

func newKube(kubeconfig string) (*kube, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	// The baseline must not be throttled by the client: KubeRay alone is
	// what it measures.
	cfg.QPS, cfg.Burst = 500, 1000
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := rayv1.AddToScheme(s); err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	return &kube{c: c}, nil
}

// addNodes adds kwok nodes with room for pods pods, perNode each, beside
// the node up.sh made, and waits until they are Ready and untainted.
func (k *kube) addNodes(ctx context.Context, pods, perNode int) (int, error) {
	n := (pods + perNode - 1) / perNode
	logf("adding %d kwok nodes of %d pods each", n, perNode)
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(fmt.Sprint(2 * perNode)),
		corev1.ResourceMemory: resource.MustParse(fmt.Sprintf("%dGi", 8*perNode)),
		corev1.ResourcePods:   resource.MustParse(fmt.Sprint(perNode)),
	}
	var names []string
	for i := range n {
		name := fmt.Sprintf("kwok-bench-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels:      map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if err := k.c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
			return 0, fmt.Errorf("create node %s: %w", name, err)
		}
		names = append(names, name)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, name := range names {
		for {
			var node corev1.Node
			if err := k.c.Get(ctx, client.ObjectKey{Name: name}, &node); err != nil {
				return 0, err
			}
			ready := false
			for _, c := range node.Status.Conditions {
				ready = ready || c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
			}
			if ready && len(node.Spec.Taints) == 0 {
				break
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("node %s not Ready and untainted after 2 minutes", name)
			}
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// rayWatch follows the RayClusters and the head pods of a namespace from
// watches (re-listing when a watch ends) and records when each RayCluster
// first exists and first is ready, and when its head pod is first ready.
// It runs until its context ends.
type rayWatch struct {
	mu        sync.Mutex
	start     time.Time
	created   map[string]time.Duration // since start
	ready     map[string]time.Duration
	headReady map[string]time.Duration // by RayCluster name
	err       error
	changed   chan struct{}
}

func (k *kube) watchRayClusters(ctx context.Context, ns string, start time.Time) *rayWatch {
	w := &rayWatch{start: start, created: map[string]time.Duration{}, ready: map[string]time.Duration{},
		headReady: map[string]time.Duration{}, changed: make(chan struct{}, 1)}
	for _, follow := range []func(context.Context, client.WithWatch, string) error{w.follow, w.followHeads} {
		go func() {
			for ctx.Err() == nil {
				if err := follow(ctx, k.c, ns); err != nil && ctx.Err() == nil {
					w.mu.Lock()
					w.err = err
					w.mu.Unlock()
					_ = sleep(ctx, 500*time.Millisecond)
				}
			}
		}()
	}
	return w
}

// followHeads records when each RayCluster's head pod is first ready.
func (w *rayWatch) followHeads(ctx context.Context, c client.WithWatch, ns string) error {
	return listAndWatch(ctx, c, &corev1.PodList{}, "head pods", func(o runtime.Object) {
		if p, ok := o.(*corev1.Pod); ok {
			w.seeHead(p)
		}
	}, client.InNamespace(ns), client.MatchingLabels{"ray.io/node-type": "head"})
}

// listAndWatch hands see every object of list (as opts select them), then
// every one added or modified after, until ctx ends or the watch fails.
func listAndWatch(ctx context.Context, c client.WithWatch, list client.ObjectList, what string, see func(runtime.Object), opts ...client.ListOption) error {
	if err := c.List(ctx, list, opts...); err != nil {
		return err
	}
	if err := meta.EachListItem(list, func(o runtime.Object) error { see(o); return nil }); err != nil {
		return err
	}
	from := &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.GetResourceVersion()}}
	wi, err := c.Watch(ctx, list, append(opts, from)...)
	if err != nil {
		return err
	}
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		switch ev.Type {
		case watch.Added, watch.Modified:
			see(ev.Object)
		case watch.Error:
			return fmt.Errorf("watch %s: %v", what, ev.Object)
		}
	}
	return nil
}

func (w *rayWatch) seeHead(p *corev1.Pod) {
	now := time.Since(w.start)
	name := p.Labels["ray.io/cluster"]
	ready := false
	for _, c := range p.Status.Conditions {
		ready = ready || c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	}
	if name == "" || !ready {
		return
	}
	w.mu.Lock()
	if _, ok := w.headReady[name]; !ok {
		w.headReady[name] = now
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *rayWatch) follow(ctx context.Context, c client.WithWatch, ns string) error {
	return listAndWatch(ctx, c, &rayv1.RayClusterList{}, "RayClusters", func(o runtime.Object) {
		if rc, ok := o.(*rayv1.RayCluster); ok {
			w.see(rc)
		}
	}, client.InNamespace(ns))
}

func (w *rayWatch) see(rc *rayv1.RayCluster) {
	now := time.Since(w.start)
	w.mu.Lock()
	if _, ok := w.created[rc.Name]; !ok {
		w.created[rc.Name] = now
	}
	//nolint:staticcheck // State is deprecated for the conditions, but "ready" is what the benchmark waits for.
	if _, ok := w.ready[rc.Name]; !ok && rc.Status.State == rayv1.Ready {
		w.ready[rc.Name] = now
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// last returns, over names, the latest time each map records, and how
// many names it holds.
func last(m map[string]time.Duration, names []string) (time.Duration, int) {
	var t time.Duration
	n := 0
	for _, name := range names {
		if d, ok := m[name]; ok {
			n++
			t = max(t, d)
		}
	}
	return t, n
}

// What waitFor waits for.
const (
	untilExists = iota
	untilReady
	untilHeadReady
)

// waitFor waits until every name exists, is ready, or has its head pod
// ready (until), and returns the latest time.
func (w *rayWatch) waitFor(ctx context.Context, names []string, until int) (time.Duration, error) {
	for {
		w.mu.Lock()
		m := w.created
		switch until {
		case untilReady:
			m = w.ready
		case untilHeadReady:
			m = w.headReady
		}
		t, n := last(m, names)
		err := w.err
		w.mu.Unlock()
		if n == len(names) {
			return t, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return 0, fmt.Errorf("%d of %d RayClusters (last watch error: %w): %w", n, len(names), err, ctx.Err())
			}
			return 0, fmt.Errorf("%d of %d RayClusters: %w", n, len(names), ctx.Err())
		case <-w.changed:
		case <-time.After(time.Second):
		}
	}
}

// waitEmpty waits until the namespace holds no RayCluster and no pod.
func (k *kube) waitEmpty(ctx context.Context, ns string) error {
	for {
		var rcs rayv1.RayClusterList
		var pods corev1.PodList
		if err := k.c.List(ctx, &rcs, client.InNamespace(ns)); err != nil {
			return err
		}
		if err := k.c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return err
		}
		if meta.LenList(&rcs) == 0 && meta.LenList(&pods) == 0 {
			return nil
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("%d RayClusters and %d pods left in %s: %w", len(rcs.Items), len(pods.Items), ns, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
