package service

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Default node shape for a create that leaves it out: enough for a head to
// run small workloads itself.
const (
	defaultHeadCPU    = "2"
	defaultHeadMemory = "8Gi"
)

// ClusterInfo is a cluster as the API shows it: with the gateway addresses
// that reach it and, when an instance is running, the caller's data-plane
// credential (see withCredentials).
type ClusterInfo struct {
	rayfleet.Cluster
	Token        string // the caller's data-plane token, or ""
	DashboardURL string
	JobURL       string
	JobURLInner  string
	GRPCEndpoint string
}

// ListClustersInput is ListRayCluster's query.
type ListClustersInput struct {
	WorkspaceID string
	PageNum     int
	PageSize    int
	State       string
	Name        string
	Creator     string
	QueueName   string
}

// ListClustersOutput is a page of clusters.
type ListClustersOutput struct {
	Clusters   []ClusterInfo
	TotalCount int
	PageNum    int
	PageSize   int
}

// ListClusters lists a workspace's clusters, newest first.
func (s *Service) ListClusters(ctx context.Context, p rayfleet.Principal, in ListClustersInput) (*ListClustersOutput, error) {
	if err := s.authorize(ctx, p, "ListRayCluster", s.wsARN(p, in.WorkspaceID)); err != nil {
		return nil, err
	}
	if err := s.checkPage(ctx, p, in.WorkspaceID, &in.PageNum, &in.PageSize); err != nil {
		return nil, err
	}
	if in.State != "" && !rayfleet.State(in.State).Valid() {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "state must be one of Starting, Running, Stopping, Stopped, Error; got %q", in.State)
	}
	f := store.ClusterFilter{
		AccountID: p.AccountID, WorkspaceID: in.WorkspaceID,
		State: rayfleet.State(in.State), Name: in.Name, Creator: in.Creator, QueueName: in.QueueName,
		Offset: (in.PageNum - 1) * in.PageSize, Limit: in.PageSize,
	}
	cs, total, err := s.listVisibleClusters(ctx, p, f)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	// The store lists no clusters of a missing workspace or of another
	// account's, so a cluster listed proves the workspace is the caller's;
	// only an empty answer needs the workspace looked up, to tell an empty
	// workspace from one that must answer ResourceNotFound.
	if total == 0 {
		if _, err := s.workspace(ctx, p, in.WorkspaceID); err != nil {
			return nil, err
		}
	}
	out := &ListClustersOutput{PageNum: in.PageNum, PageSize: in.PageSize}
	l := s.links()
	// Each cluster is copied once, into its place: lists are the hot path,
	// and copies of a cluster's large struct added up.
	out.TotalCount, out.Clusters = total, make([]ClusterInfo, len(cs))
	for i := range cs {
		out.Clusters[i].Cluster = cs[i]
		l.add(&out.Clusters[i])
	}
	if err := s.withCredentials(ctx, p, out.Clusters); err != nil {
		return nil, err
	}
	return out, nil
}

// checkPage fills in a list's default page (20 items, the first) and
// checks the one asked for.
func (s *Service) checkPage(ctx context.Context, p rayfleet.Principal, wsID string, num, size *int) error {
	if *size == 0 {
		*size = 20
	}
	if *num == 0 {
		*num = 1
	}
	if *size < 1 || *size > 100 {
		return rayfleet.Errorf(rayfleet.EINVALID, "pageSize must be between 1 and 100, got %d", *size)
	}
	if *num < 1 {
		return rayfleet.Errorf(rayfleet.EINVALID, "pageNum must be 1 or more, got %d", *num)
	}
	if *num > 1<<40 / *size {
		// A missing workspace is reported first, as for every other call.
		if _, err := s.workspace(ctx, p, wsID); err != nil {
			return err
		}
		return rayfleet.Errorf(rayfleet.EINVALID, "pageNum %d is beyond any page", *num)
	}
	return nil
}

// GetCluster returns one cluster.
func (s *Service) GetCluster(ctx context.Context, p rayfleet.Principal, wsID, id string) (*ClusterInfo, error) {
	if err := s.authorize(ctx, p, "GetRayCluster", s.clusterARN(p, wsID, id)); err != nil {
		return nil, err
	}
	c, err := s.cluster(ctx, p, wsID, id)
	if err != nil {
		return nil, err
	}
	info := []ClusterInfo{{Cluster: c}}
	s.links().add(&info[0])
	if err := s.withCredentials(ctx, p, info); err != nil {
		return nil, err
	}
	return &info[0], nil
}

func (s *Service) cluster(ctx context.Context, p rayfleet.Principal, wsID, id string) (rayfleet.Cluster, error) {
	if _, err := s.workspace(ctx, p, wsID); err != nil {
		return rayfleet.Cluster{}, err
	}
	if id == "" {
		return rayfleet.Cluster{}, rayfleet.Errorf(rayfleet.EMISSING, "clusterId is required")
	}
	c, err := s.Store.GetCluster(ctx, p.AccountID, wsID, id)
	if rayfleet.IsNotFound(err) {
		return c, rayfleet.Errorf(rayfleet.ENOTFOUND, "Ray cluster %s not found in workspace %s", id, wsID)
	}
	return c, err
}

// links are the parts of the addresses of clusters that do not depend on
// the cluster, worked out once per call.
type links struct {
	url, innerURL, grpc string
	domain              string // Endpoints.ClusterDomain
}

func (s *Service) links() links {
	l := links{url: strings.TrimRight(s.Endpoints.URL, "/"), innerURL: strings.TrimRight(s.Endpoints.InnerURL, "/"), domain: s.Endpoints.ClusterDomain}
	if s.Endpoints.GRPCAddress != "" {
		l.grpc = "ray://" + s.Endpoints.GRPCAddress
	}
	return l
}

// onClusterHost is base with its host replaced by <id>.<domain> (its
// scheme and port kept); base itself without a domain.
func onClusterHost(base, domain, id string) string {
	if domain == "" {
		return base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return base
	}
	host := strings.ToLower(id) + "." + strings.TrimSuffix(domain, ".")
	if p := u.Port(); p != "" {
		host += ":" + p
	}
	u.Host = host
	return strings.TrimRight(u.String(), "/")
}

// add sets the addresses of info.Cluster.
func (l links) add(info *ClusterInfo) {
	c := &info.Cluster
	base := "/workspace/" + url.PathEscape(c.WorkspaceID) + "/raycluster/" + url.PathEscape(c.ID)
	if l.url != "" {
		info.JobURL = onClusterHost(l.url, l.domain, c.ID) + base
	}
	if l.innerURL != "" {
		info.JobURLInner = l.innerURL + base
	}
	info.GRPCEndpoint = l.grpc
}

// CreateCluster stores a new cluster and starts it.
func (s *Service) CreateCluster(ctx context.Context, p rayfleet.Principal, wsID string, patch rayfleet.ClusterPatch, clientToken string) (Outcome, error) {
	if err := s.authorize(ctx, p, "CreateRayCluster", s.wsARN(p, wsID)); err != nil {
		return Outcome{}, err
	}
	if _, err := s.workspace(ctx, p, wsID); err != nil {
		return Outcome{}, err
	}
	return s.idempotent(ctx, p, clientToken, "CreateRayCluster", []any{wsID, patch}, func(guard guard) (Outcome, error) {
		spec := patch.Apply(rayfleet.ClusterSpec{})
		if err := s.prepareSpec(ctx, p.AccountID, wsID, &spec); err != nil {
			return Outcome{}, err
		}
		unlock, err := s.lock(ctx, p.AccountID+"/"+wsID)
		if err != nil {
			return Outcome{}, err
		}
		defer unlock()
		id, err := s.newClusterID()
		if err != nil {
			return Outcome{}, err
		}
		now := s.now()
		c := rayfleet.Cluster{
			ID: id, AccountID: p.AccountID, WorkspaceID: wsID, Spec: spec, RunningSpec: spec,
			Desired: rayfleet.RunStateRunning, CreateTime: now, ModifiedTime: now,
			Creator: p.UserUID, CreatorName: p.Nickname, Modifier: p.UserUID, ModifierName: p.Nickname,
		}
		if err := s.startInstance(&c, now); err != nil {
			return Outcome{}, err
		}
		// The store admits it against its queues' free capacity in the
		// transaction that writes it (QuotaExceeded otherwise).
		out := Outcome{ClusterID: id}
		if err := s.Store.CreateCluster(guard(ctx, out), c); err != nil {
			return Outcome{}, fmt.Errorf("create cluster: %w", err)
		}
		s.wake(&c)
		return out, nil
	})
}

// startInstance gives c a new instance: id, state Starting, and the
// instance's own token. That token never leaves rayfleet (users get
// data-plane credentials, bound to the instance, instead): its hash marks
// the instance live, and its sealed form lets a start check the master key.
func (s *Service) startInstance(c *rayfleet.Cluster, now time.Time) error {
	inst, err := s.newInstanceID(c.ID)
	if err != nil {
		return err
	}
	token, err := s.newToken()
	if err != nil {
		return err
	}
	sealed, err := s.Sealer.Seal([]byte(token))
	if err != nil {
		return err
	}
	c.InstanceID, c.TokenHash, c.TokenSealed = inst, hashToken(token), sealed
	c.Desired = rayfleet.RunStateRunning
	c.State, c.Message, c.Instances, c.StateTime = rayfleet.StateStarting, "", nil, now
	c.StartTime = now
	c.RunningSpec = c.Spec
	c.Modified = false
	return nil
}

// prepareSpec fills defaults and checks the spec against the workspace: its
// queues, network services, and the release and GPU catalogs.
func (s *Service) prepareSpec(ctx context.Context, accountID, wsID string, spec *rayfleet.ClusterSpec) error {
	if spec.ReleaseVersion == "" && len(s.Releases) > 0 {
		spec.ReleaseVersion = s.Releases[0].Display
	}
	h := &spec.Head
	if h.QueueName == "" {
		h.QueueName = rayfleet.RootQueue
	}
	if h.CPU == "" {
		h.CPU = defaultHeadCPU
	}
	if h.Memory == "" {
		h.Memory = defaultHeadMemory
	}
	for i := range spec.Workers {
		w := &spec.Workers[i]
		if w.QueueName == "" {
			w.QueueName = h.QueueName
		}
		if w.GroupName == "" {
			w.GroupName = fmt.Sprintf("worker-group-%d", i+1)
		}
		if w.WorkerType == "" {
			w.WorkerType = "CPU"
			if w.GPUSpec != "" {
				w.WorkerType = "GPU"
			}
		}
	}
	spec.FillReplicaBounds()
	if spec.ExtraParam == "" {
		spec.ExtraParam = "{}"
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := s.checkRelease("displayReleaseVersion", spec.ReleaseVersion); err != nil {
		return err
	}
	if h.ReleaseVersion != "" {
		if err := s.checkRelease("headSpec.displayReleaseVersion", h.ReleaseVersion); err != nil {
			return err
		}
	}
	if err := s.checkGPU("headSpec.gpuSpec", h.GPUSpec); err != nil {
		return err
	}
	for i, w := range spec.Workers {
		if w.ReleaseVersion != "" {
			if err := s.checkRelease(fmt.Sprintf("workerSpec[%d].displayReleaseVersion", i), w.ReleaseVersion); err != nil {
				return err
			}
		}
		if err := s.checkGPU(fmt.Sprintf("workerSpec[%d].gpuSpec", i), w.GPUSpec); err != nil {
			return err
		}
	}
	nss, err := s.Store.ListNetworkServices(ctx, accountID, wsID)
	if err != nil {
		return fmt.Errorf("list network services: %w", err)
	}
	if spec.NetworkService == "" && len(nss) > 0 {
		spec.NetworkService = nss[0].Name
	}
	if spec.NetworkService != "" && !hasNetworkService(nss, spec.NetworkService) {
		return rayfleet.Errorf(rayfleet.EINVALID, "networkServiceName %q is not a network service of workspace %s; see ListNetworkServices", spec.NetworkService, wsID)
	}
	queues, err := s.Store.ListQueues(ctx, accountID, wsID)
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	known := map[string]bool{}
	for _, q := range queues {
		known[q.Name] = true
	}
	if !known[h.QueueName] {
		return rayfleet.Errorf(rayfleet.EINVALID, "headSpec.queueName %q is not a queue of workspace %s; see ListWorkspaceQueues", h.QueueName, wsID)
	}
	for i, w := range spec.Workers {
		if !known[w.QueueName] {
			return rayfleet.Errorf(rayfleet.EINVALID, "workerSpec[%d].queueName %q is not a queue of workspace %s; see ListWorkspaceQueues", i, w.QueueName, wsID)
		}
	}
	return nil
}

func hasNetworkService(nss []rayfleet.NetworkService, name string) bool {
	for _, n := range nss {
		if n.Name == name {
			return true
		}
	}
	return false
}

func (s *Service) checkRelease(field, v string) error {
	if _, ok := s.Release(v); ok {
		return nil
	}
	names := make([]string, 0, len(s.Releases))
	for _, r := range s.Releases {
		names = append(names, fmt.Sprintf("%q", r.Display))
	}
	return rayfleet.Errorf(rayfleet.EINVALID, "%s %q is not a known release version; known: %s", field, v, strings.Join(names, ", "))
}

// Release finds a release version by its display string or short name.
func (s *Service) Release(v string) (rayfleet.ReleaseVersion, bool) {
	for _, r := range s.Releases {
		if r.Display == v || r.Version == v {
			return r, true
		}
	}
	return rayfleet.ReleaseVersion{}, false
}

func (s *Service) checkGPU(field, v string) error {
	if v == "" {
		return nil
	}
	if _, ok := s.GPUTypes[v]; ok {
		return nil
	}
	names := make([]string, 0, len(s.GPUTypes))
	for k := range s.GPUTypes {
		names = append(names, k)
	}
	if len(names) == 0 {
		return rayfleet.Errorf(rayfleet.EINVALID, "%s %q: this server has no GPU types configured", field, v)
	}
	slices.Sort(names)
	return rayfleet.Errorf(rayfleet.EINVALID, "%s %q is not a configured GPU type; configured: %s", field, v, strings.Join(names, ", "))
}

// UpdateCluster changes a cluster's spec. Changes a running cluster can take
// live (worker replicas, min/max, autoscaling) are applied by the reconciler
// at once; the rest wait for the next start and set Modified.
func (s *Service) UpdateCluster(ctx context.Context, p rayfleet.Principal, wsID, id string, patch rayfleet.ClusterPatch, clientToken string) (Outcome, error) {
	if err := s.authorize(ctx, p, "UpdateRayCluster", s.clusterARN(p, wsID, id)); err != nil {
		return Outcome{}, err
	}
	old, err := s.cluster(ctx, p, wsID, id)
	if err != nil {
		return Outcome{}, err
	}
	return s.idempotent(ctx, p, clientToken, "UpdateRayCluster", []any{wsID, id, patch}, func(guard guard) (Outcome, error) {
		spec := patch.Apply(old.Spec)
		if err := s.prepareSpec(ctx, p.AccountID, wsID, &spec); err != nil {
			return Outcome{}, err
		}
		unlock, err := s.lock(ctx, p.AccountID+"/"+wsID)
		if err != nil {
			return Outcome{}, err
		}
		defer unlock()
		var updated rayfleet.Cluster
		out := Outcome{ClusterID: id}
		err = retryConflict(ctx, func() error {
			var err error
			// A cluster that holds capacity is admitted again, with its new
			// spec, by the store's write.
			updated, err = s.Store.UpdateCluster(guard(ctx, out), p.AccountID, wsID, id, func(c *rayfleet.Cluster) error {
				if c.Deleted {
					return rayfleet.Errorf(rayfleet.ENOTFOUND, "Ray cluster %s not found in workspace %s", id, wsID)
				}
				c.Spec = spec
				if c.State == rayfleet.StateStarting || c.State == rayfleet.StateRunning {
					c.RunningSpec = rayfleet.MergeLive(c.RunningSpec, spec)
					c.Modified = rayfleet.RestartRequired(c.RunningSpec, spec)
				}
				c.ModifiedTime = s.now()
				c.Modifier, c.ModifierName = p.UserUID, p.Nickname
				return nil
			})
			return err
		})
		if err != nil {
			return Outcome{}, err
		}
		s.wake(&updated)
		return out, nil
	})
}

// StartCluster starts a stopped (or failed) cluster as a new instance. On a
// cluster that is already starting or running it succeeds without acting.
func (s *Service) StartCluster(ctx context.Context, p rayfleet.Principal, wsID, id, clientToken string) (Outcome, error) {
	if err := s.authorize(ctx, p, "StartRayCluster", s.clusterARN(p, wsID, id)); err != nil {
		return Outcome{}, err
	}
	if _, err := s.cluster(ctx, p, wsID, id); err != nil {
		return Outcome{}, err
	}
	return s.idempotent(ctx, p, clientToken, "StartRayCluster", []any{wsID, id}, func(guard guard) (Outcome, error) {
		unlock, err := s.lock(ctx, p.AccountID+"/"+wsID)
		if err != nil {
			return Outcome{}, err
		}
		defer unlock()
		var updated rayfleet.Cluster
		acted := false
		err = retryConflict(ctx, func() error {
			var err error
			acted = false
			// The store's write admits the cluster, holding capacity again.
			updated, err = s.Store.UpdateCluster(guard(ctx, Outcome{}), p.AccountID, wsID, id, func(c *rayfleet.Cluster) error {
				switch {
				case c.Deleted:
					return rayfleet.Errorf(rayfleet.ENOTFOUND, "Ray cluster %s not found in workspace %s", id, wsID)
				case c.State == rayfleet.StateStarting || c.State == rayfleet.StateRunning:
					return errNoChange
				case c.State == rayfleet.StateStopping:
					return rayfleet.Errorf(rayfleet.EDENIED, "Ray cluster %s is Stopping; start it again once it is Stopped", id)
				}
				acted = true
				c.ModifiedTime = s.now()
				c.Modifier, c.ModifierName = p.UserUID, p.Nickname
				return s.startInstance(c, s.now())
			})
			return err
		})
		if err != nil && err != errNoChange { //nolint:errorlint // sentinel returned unwrapped by our own closure
			return Outcome{}, err
		}
		if acted {
			s.revoke(&updated)
			s.wake(&updated)
		}
		return Outcome{}, nil
	})
}

// StopCluster stops the cluster's current instance (or the one named, which
// must be the current one).
func (s *Service) StopCluster(ctx context.Context, p rayfleet.Principal, wsID, id, instanceID, clientToken string) (Outcome, error) {
	if err := s.authorize(ctx, p, "StopRayCluster", s.clusterARN(p, wsID, id)); err != nil {
		return Outcome{}, err
	}
	if _, err := s.cluster(ctx, p, wsID, id); err != nil {
		return Outcome{}, err
	}
	return s.idempotent(ctx, p, clientToken, "StopRayCluster", []any{wsID, id, instanceID}, func(guard guard) (Outcome, error) {
		var updated rayfleet.Cluster
		acted := false
		err := retryConflict(ctx, func() error {
			var err error
			acted = false
			updated, err = s.Store.UpdateCluster(guard(ctx, Outcome{}), p.AccountID, wsID, id, func(c *rayfleet.Cluster) error {
				switch {
				case c.Deleted:
					return rayfleet.Errorf(rayfleet.ENOTFOUND, "Ray cluster %s not found in workspace %s", id, wsID)
				case instanceID != "" && instanceID != c.InstanceID:
					return rayfleet.Errorf(rayfleet.EDENIED, "instanceId %s is not the current instance of Ray cluster %s (the current one is %s)", instanceID, id, c.InstanceID)
				case c.State == rayfleet.StateStopping:
					return rayfleet.Errorf(rayfleet.EDENIED, "Ray cluster %s is already Stopping", id)
				case c.State == rayfleet.StateStopped:
					return errNoChange
				}
				acted = true
				now := s.now()
				c.Desired = rayfleet.RunStateStopped
				c.State, c.Message, c.StateTime = rayfleet.StateStopping, "", now
				c.TokenHash, c.TokenSealed = "", nil
				c.ModifiedTime = now
				c.Modifier, c.ModifierName = p.UserUID, p.Nickname
				return nil
			})
			return err
		})
		if err != nil && err != errNoChange { //nolint:errorlint // sentinel returned unwrapped by our own closure
			return Outcome{}, err
		}
		if acted {
			s.revoke(&updated)
			s.wake(&updated)
		}
		return Outcome{}, nil
	})
}

// DeleteCluster removes a cluster in any state: it is gone from List and Get
// at once; its nodes are torn down in the background and the capacity it
// holds is freed when they are gone.
func (s *Service) DeleteCluster(ctx context.Context, p rayfleet.Principal, wsID, id, clientToken string) (Outcome, error) {
	if err := s.authorize(ctx, p, "DeleteRayCluster", s.clusterARN(p, wsID, id)); err != nil {
		return Outcome{}, err
	}
	if _, err := s.cluster(ctx, p, wsID, id); err != nil {
		return Outcome{}, err
	}
	return s.idempotent(ctx, p, clientToken, "DeleteRayCluster", []any{wsID, id}, func(guard guard) (Outcome, error) {
		return Outcome{}, s.markDeleted(ctx, guard, p.AccountID, wsID, id, p.UserUID, p.Nickname)
	})
}

// markDeleted marks a cluster deleted by the user uid (nickname), its row
// written with the context guard gives. Even a stopped cluster is left to
// the reconciler to purge: it has no nodes, but the runtime may keep more
// (a suspended RayCluster and its head service), which only the runtime's
// Delete removes.
func (s *Service) markDeleted(ctx context.Context, guard guard, accountID, wsID, id, uid, nickname string) error {
	var updated rayfleet.Cluster
	err := retryConflict(ctx, func() error {
		var err error
		updated, err = s.Store.UpdateCluster(guard(ctx, Outcome{}), accountID, wsID, id, func(c *rayfleet.Cluster) error {
			if c.Deleted {
				return rayfleet.Errorf(rayfleet.ENOTFOUND, "Ray cluster %s not found in workspace %s", id, wsID)
			}
			now := s.now()
			c.Deleted = true
			c.Desired = rayfleet.RunStateStopped
			if c.State != rayfleet.StateStopped {
				c.State, c.StateTime = rayfleet.StateStopping, now
			}
			c.TokenHash, c.TokenSealed = "", nil
			c.ModifiedTime = now
			c.Modifier, c.ModifierName = uid, nickname
			return nil
		})
		return err
	})
	if err != nil {
		return err
	}
	s.revoke(&updated)
	s.wake(&updated)
	return nil
}
