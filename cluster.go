package rayfleet

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// State is the observed state of a Ray cluster, as the API reports it.
type State string

// The cluster states of the hosted product.
const (
	StateStarting State = "Starting"
	StateRunning  State = "Running"
	StateStopping State = "Stopping"
	StateStopped  State = "Stopped"
	StateError    State = "Error"
)

// Valid reports whether s is one of the five states.
func (s State) Valid() bool {
	switch s {
	case StateStarting, StateRunning, StateStopping, StateStopped, StateError:
		return true
	}
	return false
}

// RunState is what the owner asked for: the cluster running or stopped.
type RunState string

// Desired run states.
const (
	RunStateRunning RunState = "Running"
	RunStateStopped RunState = "Stopped"
)

// Limits of a cluster spec.
const (
	MaxNameLen      = 64
	MaxWorkerGroups = 50
	MaxDescription  = 1024
)

// HeadSpec is the head node group of a cluster. EnableAutoScaling and
// IdleTimeoutSeconds sit here but apply to every worker group, as in the
// hosted product.
type HeadSpec struct {
	QueueName          string     `json:"queueName"`
	CPU                string     `json:"cpu"`
	Memory             string     `json:"memory"`
	GPUSpec            string     `json:"gpuSpec,omitempty"`
	EnableAutoScaling  bool       `json:"enableAutoScaling"`
	IdleTimeoutSeconds int32      `json:"idleTimeoutSeconds"`
	ReleaseVersion     string     `json:"displayReleaseVersion,omitempty"`
	Env                string     `json:"env,omitempty"`
	RayStartParams     string     `json:"rayStartParams,omitempty"`
	GFTEnabled         *bool      `json:"gftEnabled,omitempty"`
	GFTConfig          *GFTConfig `json:"gftConfig,omitempty"`
}

// GFTConfig is the external Redis of GCS fault tolerance.
type GFTConfig struct {
	RedisURL      string `json:"redisUrl"`
	RedisUsername string `json:"redisUsername,omitempty"`
	RedisPassword string `json:"redisPassword,omitempty"`
}

// WorkerSpec is one worker group.
type WorkerSpec struct {
	GroupName      string `json:"groupName"`
	WorkerType     string `json:"workerType,omitempty"`
	Replica        int32  `json:"replica"`
	MinReplica     int32  `json:"minReplica"`
	MaxReplica     int32  `json:"maxReplica"`
	QueueName      string `json:"queueName"`
	CPU            string `json:"cpu"`
	Memory         string `json:"memory"`
	GPUSpec        string `json:"gpuSpec,omitempty"`
	ReleaseVersion string `json:"displayReleaseVersion,omitempty"`
	Env            string `json:"env,omitempty"`
	RayStartParams string `json:"rayStartParams,omitempty"`
}

// ClusterSpec is everything the owner configures about a cluster.
type ClusterSpec struct {
	Name           string       `json:"name"`
	Description    string       `json:"description,omitempty"`
	ReleaseVersion string       `json:"displayReleaseVersion"`
	NetworkService string       `json:"networkServiceName,omitempty"`
	Head           HeadSpec     `json:"headSpec"`
	Workers        []WorkerSpec `json:"workerSpec"`
	ExtraParam     string       `json:"extraParam,omitempty"`
	VolumeIDs      []string     `json:"volumeIds,omitempty"`
}

// ClusterPatch carries the fields of a Create or Update body; nil means the
// field was left out. Head and Workers, when given, replace the old value whole.
type ClusterPatch struct {
	Name           *string
	Description    *string
	ReleaseVersion *string
	NetworkService *string
	Head           *HeadSpec
	Workers        *[]WorkerSpec
	ExtraParam     *string
	VolumeIDs      *[]string
	// KeepRedisPassword says the body's gftConfig left redisPassword out:
	// the stored password stays if the Redis (URL and username) is the
	// same. Responses never carry the password, so a spec read back and
	// sent again keeps it.
	KeepRedisPassword bool
}

// Apply returns spec with the patch's fields written over it.
func (p ClusterPatch) Apply(spec ClusterSpec) ClusterSpec {
	if p.Name != nil {
		spec.Name = *p.Name
	}
	if p.Description != nil {
		spec.Description = *p.Description
	}
	if p.ReleaseVersion != nil {
		spec.ReleaseVersion = *p.ReleaseVersion
	}
	if p.NetworkService != nil {
		spec.NetworkService = *p.NetworkService
	}
	if p.Head != nil {
		old := spec.Head.GFTConfig
		spec.Head = *p.Head
		if g := spec.Head.GFTConfig; g != nil && p.KeepRedisPassword && old != nil &&
			old.RedisURL == g.RedisURL && old.RedisUsername == g.RedisUsername {
			kept := *g
			kept.RedisPassword = old.RedisPassword
			spec.Head.GFTConfig = &kept
		}
	}
	if p.Workers != nil {
		spec.Workers = append([]WorkerSpec(nil), (*p.Workers)...)
	}
	if p.ExtraParam != nil {
		spec.ExtraParam = *p.ExtraParam
	}
	if p.VolumeIDs != nil {
		spec.VolumeIDs = append([]string(nil), (*p.VolumeIDs)...)
	}
	return spec
}

// Validate checks everything that can be checked without looking anything up
// (queues, network services and release versions are checked by the service).
// The message names the field, as the caller wrote it.
func (s *ClusterSpec) Validate() error {
	if s.Name == "" || utf8.RuneCountInString(s.Name) > MaxNameLen {
		return Errorf(EINVALID, "name must be 1 to %d characters, got %d", MaxNameLen, utf8.RuneCountInString(s.Name))
	}
	if utf8.RuneCountInString(s.Description) > MaxDescription {
		return Errorf(EINVALID, "description must be at most %d characters", MaxDescription)
	}
	if s.ExtraParam != "" && !json.Valid([]byte(s.ExtraParam)) {
		return Errorf(EINVALID, "extraParam must be a JSON string, such as \"{}\"")
	}
	if err := s.Head.validate(); err != nil {
		return err
	}
	if len(s.Workers) > MaxWorkerGroups {
		return Errorf(EINVALID, "workerSpec has %d groups; at most %d are allowed", len(s.Workers), MaxWorkerGroups)
	}
	seen := make(map[string]bool, len(s.Workers))
	for i := range s.Workers {
		w := &s.Workers[i]
		if err := w.validate(i, s.Head.EnableAutoScaling); err != nil {
			return err
		}
		if seen[w.GroupName] {
			return Errorf(EINVALID, "workerSpec[%d].groupName %q is used by another group; group names must be unique", i, w.GroupName)
		}
		seen[w.GroupName] = true
	}
	return nil
}

func (h *HeadSpec) validate() error {
	if _, err := ParseCPU(h.CPU); err != nil {
		return Errorf(EINVALID, "headSpec.cpu %s", err)
	}
	if _, err := ParseMemory(h.Memory); err != nil {
		return Errorf(EINVALID, "headSpec.memory %s", err)
	}
	if h.IdleTimeoutSeconds < 0 {
		return Errorf(EINVALID, "headSpec.idleTimeoutSeconds must be 0 or more, got %d", h.IdleTimeoutSeconds)
	}
	if err := validateEnv(h.Env); err != nil {
		return Errorf(EINVALID, "headSpec.env %s", err)
	}
	if _, err := SplitRayStartParams(h.RayStartParams); err != nil {
		return Errorf(EINVALID, "headSpec.rayStartParams %s", err)
	}
	if h.GFTEnabled != nil && *h.GFTEnabled {
		if h.GFTConfig == nil || h.GFTConfig.RedisURL == "" {
			return Errorf(EINVALID, "headSpec.gftConfig.redisUrl is required when headSpec.gftEnabled is true")
		}
	}
	return nil
}

func (w *WorkerSpec) validate(i int, autoscaling bool) error {
	name := fmt.Sprintf("workerSpec[%d]", i)
	if w.GroupName == "" || len(w.GroupName) > MaxNameLen {
		return Errorf(EINVALID, "%s.groupName must be 1 to %d characters", name, MaxNameLen)
	}
	for _, r := range w.GroupName {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return Errorf(EINVALID, "%s.groupName %q may hold only letters, digits, '-' and '_'", name, w.GroupName)
		}
	}
	if w.Replica < 1 {
		return Errorf(EINVALID, "%s.replica must be at least 1, got %d", name, w.Replica)
	}
	// The hosted product's rule is 1 <= minReplica <= maxReplica in every
	// case. 0 is a bound left out: FillReplicaBounds makes it the group's
	// replica when autoscaling is off, and with autoscaling on it is
	// refused here.
	switch {
	case autoscaling && w.MinReplica < 1:
		return Errorf(EINVALID, "%s.minReplica must be at least 1 when autoscaling is on, got %d", name, w.MinReplica)
	case autoscaling && w.MaxReplica < 1:
		return Errorf(EINVALID, "%s.maxReplica must be at least 1 when autoscaling is on, got %d", name, w.MaxReplica)
	case w.MinReplica < 0:
		return Errorf(EINVALID, "%s.minReplica must be at least 1, got %d", name, w.MinReplica)
	case w.MaxReplica < 0:
		return Errorf(EINVALID, "%s.maxReplica must be at least 1, got %d", name, w.MaxReplica)
	case w.MinReplica > 0 && w.MaxReplica > 0 && w.MinReplica > w.MaxReplica:
		return Errorf(EINVALID, "%s needs minReplica <= maxReplica, got %d > %d", name, w.MinReplica, w.MaxReplica)
	case autoscaling && !(w.MinReplica <= w.Replica && w.Replica <= w.MaxReplica):
		return Errorf(EINVALID, "%s needs minReplica <= replica <= maxReplica when autoscaling is on, got %d <= %d <= %d",
			name, w.MinReplica, w.Replica, w.MaxReplica)
	}
	if _, err := ParseCPU(w.CPU); err != nil {
		return Errorf(EINVALID, "%s.cpu %s", name, err)
	}
	if _, err := ParseMemory(w.Memory); err != nil {
		return Errorf(EINVALID, "%s.memory %s", name, err)
	}
	if err := validateEnv(w.Env); err != nil {
		return Errorf(EINVALID, "%s.env %s", name, err)
	}
	if _, err := SplitRayStartParams(w.RayStartParams); err != nil {
		return Errorf(EINVALID, "%s.rayStartParams %s", name, err)
	}
	return nil
}

// validateEnv checks newline-separated KEY=VALUE lines.
func validateEnv(env string) error {
	_, err := ParseEnv(env)
	return err
}

// ParseEnv parses newline-separated KEY=VALUE lines; blank lines are skipped.
func ParseEnv(env string) ([][2]string, error) {
	var out [][2]string
	for n, line := range strings.Split(env, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d %q is not KEY=VALUE", n+1, line)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// FillReplicaBounds gives the worker groups' bounds left out (0) their
// value when autoscaling is off: a group of fixed size, its replica, or as
// close to it as the other bound allows. With autoscaling on they stay 0,
// for Validate to refuse: a range is not guessed.
func (s *ClusterSpec) FillReplicaBounds() {
	if s.Head.EnableAutoScaling {
		return
	}
	for i := range s.Workers {
		w := &s.Workers[i]
		if w.MinReplica == 0 {
			w.MinReplica = w.Replica
			if w.MaxReplica > 0 {
				w.MinReplica = min(w.Replica, w.MaxReplica)
			}
		}
		if w.MaxReplica == 0 {
			w.MaxReplica = max(w.Replica, w.MinReplica)
		}
	}
}

// NodeNeed is what one group of identical nodes holds in one queue.
type NodeNeed struct {
	Queue string
	Each  Resources
	Count int64
}

// Needs returns the capacity a cluster with this spec holds, per queue: the
// head plus each worker group (maxReplica of it under autoscaling, replica
// otherwise). The spec must have passed Validate.
func (s *ClusterSpec) Needs() map[string]Resources {
	out := map[string]Resources{}
	for _, n := range s.nodeNeeds() {
		out[n.Queue] = out[n.Queue].Add(n.Each.Scale(n.Count))
	}
	return out
}

// Total is what a cluster with this spec holds in all its queues together.
func (s *ClusterSpec) Total() Resources {
	var t Resources
	for _, n := range s.nodeNeeds() {
		t = t.Add(n.Each.Scale(n.Count))
	}
	return t
}

func (s *ClusterSpec) nodeNeeds() []NodeNeed {
	cpu, _ := ParseCPU(s.Head.CPU)
	mem, _ := ParseMemory(s.Head.Memory)
	needs := []NodeNeed{{Queue: s.Head.QueueName, Each: Resources{cpu, mem}, Count: 1}}
	for _, w := range s.Workers {
		cpu, _ := ParseCPU(w.CPU)
		mem, _ := ParseMemory(w.Memory)
		n := int64(w.Replica)
		if s.Head.EnableAutoScaling && w.MaxReplica > w.Replica {
			n = int64(w.MaxReplica)
		}
		needs = append(needs, NodeNeed{Queue: w.QueueName, Each: Resources{cpu, mem}, Count: n})
	}
	return needs
}

// Queues returns the distinct queue names the spec uses, head first.
func (s *ClusterSpec) Queues() []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range s.nodeNeeds() {
		if !seen[n.Queue] {
			seen[n.Queue] = true
			out = append(out, n.Queue)
		}
	}
	return out
}

// RestartRequired reports whether going from old to new changes something that
// only a restart applies (image, resources, env, start parameters...). Worker
// replica counts, min/max and the autoscaling switch and idle timeout apply live.
// GCS fault tolerance off is one thing however it is spelled: left out, false,
// or with an empty gftConfig (as GetRayCluster reports it, and a client sends
// back what it read).
func RestartRequired(old, new ClusterSpec) bool {
	strip := func(s ClusterSpec) ClusterSpec {
		s.Name, s.Description = "", ""
		s.Head.EnableAutoScaling, s.Head.IdleTimeoutSeconds = false, 0
		if s.Head.GFTEnabled != nil && !*s.Head.GFTEnabled {
			s.Head.GFTEnabled = nil
		}
		if g := s.Head.GFTConfig; g != nil && *g == (GFTConfig{}) {
			s.Head.GFTConfig = nil
		}
		ws := make([]WorkerSpec, len(s.Workers))
		for i, w := range s.Workers {
			w.Replica, w.MinReplica, w.MaxReplica = 0, 0, 0
			ws[i] = w
		}
		s.Workers = ws
		return s
	}
	a, _ := json.Marshal(strip(old))
	b, _ := json.Marshal(strip(new))
	return string(a) != string(b)
}

// MergeLive returns running with the live-applicable fields of next merged
// in: the autoscaling switch and idle timeout, and each worker group's
// replica, minReplica and maxReplica (groups matched by name). Everything
// else stays as it runs until the next start.
func MergeLive(running, next ClusterSpec) ClusterSpec {
	out := running
	out.Head.EnableAutoScaling = next.Head.EnableAutoScaling
	out.Head.IdleTimeoutSeconds = next.Head.IdleTimeoutSeconds
	byName := make(map[string]WorkerSpec, len(next.Workers))
	for _, w := range next.Workers {
		byName[w.GroupName] = w
	}
	out.Workers = make([]WorkerSpec, len(running.Workers))
	for i, w := range running.Workers {
		if n, ok := byName[w.GroupName]; ok {
			w.Replica, w.MinReplica, w.MaxReplica = n.Replica, n.MinReplica, n.MaxReplica
		}
		out.Workers[i] = w
	}
	return out
}

// Instance is one node of a running cluster, as the runtime observed it.
type Instance struct {
	InstanceID            string    `json:"instanceId"`
	Type                  string    `json:"type"` // Head or Worker
	Group                 string    `json:"group,omitempty"`
	Phase                 string    `json:"phase"`
	Message               string    `json:"message,omitempty"`
	Reason                string    `json:"reason,omitempty"`
	ContainerState        string    `json:"containerState,omitempty"`
	ContainerStateMessage string    `json:"containerStateMessage,omitempty"`
	ContainerStateReason  string    `json:"containerStateReason,omitempty"`
	ContainerExitCode     int32     `json:"containerExitCode"`
	CreateTime            time.Time `json:"createTime"`
	StartTime             time.Time `json:"startTime"`
	// RayVersion and PythonVersion are what the node runs, as its runtime
	// knows it ("" when it does not).
	RayVersion    string `json:"rayVersion,omitempty"`
	PythonVersion string `json:"pythonVersion,omitempty"`
}

// Cluster is a Ray cluster: its spec, what its owner wants, what was observed,
// and who did what when.
type Cluster struct {
	ID          string
	AccountID   string
	WorkspaceID string
	// Spec is the configuration the owner asked for; RunningSpec is what the
	// current instance runs: Spec as of the last start, with the changes a
	// running cluster takes live merged in since.
	Spec        ClusterSpec
	RunningSpec ClusterSpec

	// Desired is the run state the owner asked for; Deleted means the owner
	// deleted it and the row stays only until its resources are gone.
	Desired RunState
	Deleted bool

	State      State
	Message    string
	Instances  []Instance
	InstanceID string
	// TokenHash is the SHA-256 (hex) of the current instance's access token;
	// TokenSealed is the token encrypted under the server's master key, so
	// GetRayCluster can show it again. Both are empty while stopped.
	TokenHash   string
	TokenSealed []byte
	Modified    bool

	CreateTime   time.Time
	StartTime    time.Time
	ModifiedTime time.Time
	// StateTime is when State last changed (the reconciler's start timeout).
	StateTime time.Time

	Creator      string
	CreatorName  string
	Modifier     string
	ModifierName string

	// Version is the optimistic-concurrency version; stores bump it on every write.
	Version int64
}

// HoldsCapacity reports whether the cluster counts against its queues: from
// start until it is stopped, or until a deleted cluster's resources are gone
// (and its row purged).
func (c *Cluster) HoldsCapacity() bool { return c.State != StateStopped }
