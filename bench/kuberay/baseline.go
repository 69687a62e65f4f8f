package main

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const baselineNamespace = "bench-baseline"

// baselineSide creates RayClusters directly with client-go: the spec
// rayfleet applied for the warm-up cluster, without rayfleet's labels.
type baselineSide struct {
	kube     *kube
	meter    *meter
	opts     options
	template *rayv1.RayCluster
	rounds   int
}

func (b *baselineSide) setup(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: baselineNamespace}}
	if err := b.kube.c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// object is the i-th RayCluster of a round.
func (b *baselineSide) object(i int) *rayv1.RayCluster {
	spec := b.template.Spec.DeepCopy()
	spec.Suspend = nil
	spec.HeadGroupSpec.Template.Labels = notRayfleet(spec.HeadGroupSpec.Template.Labels)
	for j := range spec.WorkerGroupSpecs {
		spec.WorkerGroupSpecs[j].Template.Labels = notRayfleet(spec.WorkerGroupSpecs[j].Template.Labels)
	}
	return &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: baselineNamespace,
			Name:      fmt.Sprintf("base-%d-%04d", b.rounds, i),
			Labels:    notRayfleet(b.template.Labels),
		},
		Spec: *spec,
	}
}

// notRayfleet drops rayfleet's labels, so that a running rayfleet's
// informers would never see the baseline's objects.
func notRayfleet(l map[string]string) map[string]string {
	out := maps.Clone(l)
	for k := range out {
		if strings.HasPrefix(k, "rayfleet.io/") || k == "app.kubernetes.io/managed-by" {
			delete(out, k)
		}
	}
	return out
}

func (b *baselineSide) round(ctx context.Context, n int) (sideResult, error) {
	var r sideResult
	b.rounds++
	ctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	objs := make([]*rayv1.RayCluster, n)
	names := make([]string, n)
	for i := range objs {
		objs[i] = b.object(i)
		names[i] = objs[i].Name
	}
	s0 := b.meter.sample(ctx, 0)
	start := time.Now()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w := b.kube.watchRayClusters(wctx, baselineNamespace, start)
	if err := forEach(ctx, n, b.opts.concurrency, func(i int) error {
		return b.kube.c.Create(ctx, objs[i])
	}); err != nil {
		return r, fmt.Errorf("create: %w", err)
	}
	r.created = time.Since(start)
	var err error
	if r.kubeReady, err = w.waitFor(ctx, names, untilReady); err != nil {
		return r, err
	}
	r.ready = r.kubeReady
	r.use = diff(s0, b.meter.sample(ctx, 0))
	if r.objects, err = w.waitFor(ctx, names, untilExists); err != nil {
		return r, err
	}
	if r.headsReady, err = w.waitFor(ctx, names, untilHeadReady); err != nil {
		return r, err
	}
	return r, nil
}

// cleanup deletes the round's RayClusters one by one, as many at once as
// the creates (a DeleteAllOf of hundreds outlasts the API server's request
// timeout on a busy machine), and waits until no RayCluster or pod is left.
func (b *baselineSide) cleanup(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	var list rayv1.RayClusterList
	if err := b.kube.c.List(ctx, &list, client.InNamespace(baselineNamespace)); err != nil {
		return 0, err
	}
	if err := forEach(ctx, len(list.Items), b.opts.concurrency, func(i int) error {
		err := b.kube.c.Delete(ctx, &list.Items[i], client.PropagationPolicy(metav1.DeletePropagationBackground))
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}); err != nil {
		return 0, err
	}
	if err := b.kube.waitEmpty(ctx, baselineNamespace); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// describeTemplate says what the RayClusters look like, for the report.
func describeTemplate(rc *rayv1.RayCluster) string {
	var groups []string
	for _, w := range rc.Spec.WorkerGroupSpecs {
		r := int32(0)
		if w.Replicas != nil {
			r = *w.Replicas
		}
		groups = append(groups, fmt.Sprintf("%s × %d", w.GroupName, r))
	}
	sort.Strings(groups)
	img := ""
	if cs := rc.Spec.HeadGroupSpec.Template.Spec.Containers; len(cs) > 0 {
		img = cs[0].Image
		req := cs[0].Resources.Requests
		img += fmt.Sprintf(", head requests cpu %s memory %s", req.Cpu(), req.Memory())
	}
	return fmt.Sprintf("image %s; worker groups %s", img, strings.Join(groups, ", "))
}
