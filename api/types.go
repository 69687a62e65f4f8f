package api

// Version is the API version every operation carries in x-acs-version.
const Version = "2023-08-08"

// HeadSpec is a cluster's head node group as CreateRayCluster and
// UpdateRayCluster take it; a field left empty is left out.
type HeadSpec struct {
	QueueName             string     `json:"queueName,omitempty"`
	CPU                   string     `json:"cpu,omitempty"`
	Memory                string     `json:"memory,omitempty"`
	GPUSpec               string     `json:"gpuSpec,omitempty"`
	EnableAutoScaling     bool       `json:"enableAutoScaling"`
	IdleTimeoutSeconds    int32      `json:"idleTimeoutSeconds"`
	Replica               int32      `json:"replica,omitempty"`
	DisplayReleaseVersion string     `json:"displayReleaseVersion,omitempty"`
	Env                   string     `json:"env,omitempty"`
	RayStartParams        string     `json:"rayStartParams,omitempty"`
	GFTEnabled            *bool      `json:"gftEnabled,omitempty"`
	GFTConfig             *GFTConfig `json:"gftConfig,omitempty"`
}

// GFTConfig is the external Redis of GCS fault tolerance. Responses never
// carry the password. An update that leaves the password out keeps the one
// stored for the same Redis (URL and username), so a spec read back and
// sent again does not lose it; "" removes it.
type GFTConfig struct {
	RedisURL      string  `json:"redisUrl"`
	RedisUsername string  `json:"redisUsername"`
	RedisPassword *string `json:"redisPassword,omitempty"`
}

// WorkerSpec is one worker group as CreateRayCluster and UpdateRayCluster
// take it. MinReplica and MaxReplica left 0 are left out, and then are the
// group's replica unless headSpec.enableAutoScaling; given, they are 1 or
// more.
type WorkerSpec struct {
	GroupName             string `json:"groupName"`
	WorkerType            string `json:"workerType,omitempty"`
	Replica               int32  `json:"replica"`
	MinReplica            int32  `json:"minReplica,omitempty"`
	MaxReplica            int32  `json:"maxReplica,omitempty"`
	QueueName             string `json:"queueName,omitempty"`
	CPU                   string `json:"cpu,omitempty"`
	Memory                string `json:"memory,omitempty"`
	GPUSpec               string `json:"gpuSpec,omitempty"`
	DisplayReleaseVersion string `json:"displayReleaseVersion,omitempty"`
	Env                   string `json:"env,omitempty"`
	RayStartParams        string `json:"rayStartParams,omitempty"`
}

// ClusterHeadSpec is the head group as GetRayCluster answers it: every
// field of the SDK's model, empty ones too (clients read them without a nil
// check), Replica 1, GCS fault tolerance off spelled gftEnabled false and an
// empty gftConfig, and an empty displayReleaseVersion for the cluster's.
// It has HeadSpec's fields, so a head read back converts to one to send.
type ClusterHeadSpec struct {
	QueueName             string     `json:"queueName"`
	CPU                   string     `json:"cpu"`
	Memory                string     `json:"memory"`
	GPUSpec               string     `json:"gpuSpec"`
	EnableAutoScaling     bool       `json:"enableAutoScaling"`
	IdleTimeoutSeconds    int32      `json:"idleTimeoutSeconds"`
	Replica               int32      `json:"replica"`
	DisplayReleaseVersion string     `json:"displayReleaseVersion"`
	Env                   string     `json:"env"`
	RayStartParams        string     `json:"rayStartParams"`
	GFTEnabled            *bool      `json:"gftEnabled"`
	GFTConfig             *GFTConfig `json:"gftConfig"`
}

// ClusterWorkerSpec is a worker group as GetRayCluster answers it, every
// field present; an empty displayReleaseVersion means the head's. It
// converts to a WorkerSpec to send back.
type ClusterWorkerSpec struct {
	GroupName             string `json:"groupName"`
	WorkerType            string `json:"workerType"`
	Replica               int32  `json:"replica"`
	MinReplica            int32  `json:"minReplica"`
	MaxReplica            int32  `json:"maxReplica"`
	QueueName             string `json:"queueName"`
	CPU                   string `json:"cpu"`
	Memory                string `json:"memory"`
	GPUSpec               string `json:"gpuSpec"`
	DisplayReleaseVersion string `json:"displayReleaseVersion"`
	Env                   string `json:"env"`
	RayStartParams        string `json:"rayStartParams"`
}

// SummaryHeadSpec is the head group in a ListRayCluster item: the fields
// the hosted product's list carries, without the per-group version, env,
// rayStartParams and GCS fault tolerance that only GetRayCluster has.
type SummaryHeadSpec struct {
	QueueName          string `json:"queueName"`
	CPU                string `json:"cpu"`
	Memory             string `json:"memory"`
	GPUSpec            string `json:"gpuSpec"`
	EnableAutoScaling  bool   `json:"enableAutoScaling"`
	IdleTimeoutSeconds int32  `json:"idleTimeoutSeconds"`
	Replica            int32  `json:"replica"`
}

// SummaryWorkerSpec is a worker group in a ListRayCluster item.
type SummaryWorkerSpec struct {
	GroupName  string `json:"groupName"`
	WorkerType string `json:"workerType"`
	Replica    int32  `json:"replica"`
	MinReplica int32  `json:"minReplica"`
	MaxReplica int32  `json:"maxReplica"`
	QueueName  string `json:"queueName"`
	CPU        string `json:"cpu"`
	Memory     string `json:"memory"`
	GPUSpec    string `json:"gpuSpec"`
}

// ClusterRequest is the body of CreateRayCluster and UpdateRayCluster. A
// field left out (nil) keeps its value on update; headSpec and workerSpec,
// when given, replace the old value whole. ClientToken is an extension the
// hosted product accepts only on StartRayCluster.
type ClusterRequest struct {
	Name                  *string       `json:"name,omitempty"`
	Description           *string       `json:"description,omitempty"`
	DisplayReleaseVersion *string       `json:"displayReleaseVersion,omitempty"`
	NetworkServiceName    *string       `json:"networkServiceName,omitempty"`
	HeadSpec              *HeadSpec     `json:"headSpec,omitempty"`
	WorkerSpec            *[]WorkerSpec `json:"workerSpec,omitempty"`
	ExtraParam            *string       `json:"extraParam,omitempty"`
	VolumeIDs             *[]string     `json:"volumeIds,omitempty"`
	ClientToken           string        `json:"clientToken,omitempty"`
}

// ClusterIDResponse answers CreateRayCluster and UpdateRayCluster.
type ClusterIDResponse struct {
	RequestID string `json:"requestId"`
	ClusterID string `json:"clusterId"`
}

// StartRequest is the body of StartRayCluster.
type StartRequest struct {
	ClientToken string `json:"clientToken,omitempty"`
}

// StopRequest is the body of StopRayCluster.
type StopRequest struct {
	InstanceID  string `json:"instanceId,omitempty"`
	ClientToken string `json:"clientToken,omitempty"`
}

// RequestIDResponse answers calls that return nothing else.
type RequestIDResponse struct {
	RequestID string `json:"requestId"`
}

// Instance is one node of a running cluster.
type Instance struct {
	InstanceID            string `json:"instanceId"`
	Type                  string `json:"type"`
	Phase                 string `json:"phase"`
	Message               string `json:"message"`
	Reason                string `json:"reason"`
	ContainerState        string `json:"containerState"`
	ContainerStateMessage string `json:"containerStateMessage"`
	ContainerStateReason  string `json:"containerStateReason"`
	ContainerExitCode     int32  `json:"containerExitCode"`
	CreateTime            int64  `json:"createTime"`
	StartTime             int64  `json:"startTime"`
	// RayVersion and PythonVersion (extensions) are the versions the node
	// actually runs, where the runtime can tell.
	RayVersion    string `json:"rayVersion,omitempty"`
	PythonVersion string `json:"pythonVersion,omitempty"`
}

// ClusterSummary is one item of ListRayCluster.
type ClusterSummary struct {
	ClusterID             string              `json:"clusterId"`
	Name                  string              `json:"name"`
	Description           string              `json:"description"`
	DisplayReleaseVersion string              `json:"displayReleaseVersion"`
	NetworkServiceName    string              `json:"networkServiceName"`
	State                 string              `json:"state"`
	Message               string              `json:"message"`
	InstanceID            string              `json:"instanceId"`
	HeadSpec              SummaryHeadSpec     `json:"headSpec"`
	WorkerSpec            []SummaryWorkerSpec `json:"workerSpec"`
	DashboardURL          string              `json:"dashboardUrl"`
	GrpcEndpoint          string              `json:"grpcEndpoint"`
	Modified              bool                `json:"modified"`
	CreateTime            int64               `json:"createTime"`
	StartTime             int64               `json:"startTime"`
	ModifiedTime          int64               `json:"modifiedTime"`
	Creator               string              `json:"creator"`
	CreatorName           string              `json:"creatorName"`
	Modifier              string              `json:"modifier"`
	ModifierName          string              `json:"modifierName"`
	UserID                string              `json:"userId"`
}

// ListClustersResponse answers ListRayCluster. TotalCount, PageNum and
// PageSize are additions to the hosted product's response.
type ListClustersResponse struct {
	RequestID   string           `json:"requestId"`
	RayClusters []ClusterSummary `json:"rayClusters"`
	TotalCount  int              `json:"totalCount"`
	PageNum     int              `json:"pageNum"`
	PageSize    int              `json:"pageSize"`
}

// Cluster answers GetRayCluster.
type Cluster struct {
	RequestID             string              `json:"requestId"`
	ClusterID             string              `json:"clusterId"`
	Name                  string              `json:"name"`
	Description           string              `json:"description"`
	DisplayReleaseVersion string              `json:"displayReleaseVersion"`
	NetworkServiceName    string              `json:"networkServiceName"`
	ExtraParam            string              `json:"extraParam"`
	VolumeIDs             []string            `json:"volumeIds"`
	HeadSpec              ClusterHeadSpec     `json:"headSpec"`
	WorkerSpec            []ClusterWorkerSpec `json:"workerSpec"`
	State                 string              `json:"state"`
	Message               string              `json:"message"`
	InstanceID            string              `json:"instanceId"`
	Instances             []Instance          `json:"instances"`
	DashboardURL          string              `json:"dashboardUrl"`
	GrpcEndpoint          string              `json:"grpcEndpoint"`
	JobURL                string              `json:"jobUrl"`
	JobURLInner           string              `json:"jobUrlInner"`
	SubmitToken           string              `json:"submitToken"`
	Modified              bool                `json:"modified"`
	CreateTime            int64               `json:"createTime"`
	StartTime             int64               `json:"startTime"`
	ModifiedTime          int64               `json:"modifiedTime"`
	Creator               string              `json:"creator"`
	CreatorName           string              `json:"creatorName"`
	Modifier              string              `json:"modifier"`
	ModifierName          string              `json:"modifierName"`
	UserID                string              `json:"userId"`
}

// Tag is a key/value label.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ResourceSpec is the capacity of a workspace or queue in CU.
type ResourceSpec struct {
	CU            *FlexInt `json:"cu,omitempty"`
	MaxCU         *FlexInt `json:"maxCu,omitempty"`
	GPU           int32    `json:"gpu,omitempty"`
	GPUMachineNum int32    `json:"gpuMachineNum,omitempty"`
}

// CreateWorkspaceRequest is the body of CreateWorkspace, every field of the
// SDK's model. rayfleet refuses those it has no counterpart for when they
// ask for something (a RAM role, a DLF catalog, a session cluster, GPU
// quota, a resource group, subscription terms); the subscription terms are
// strings, as the SDK sends them.
type CreateWorkspaceRequest struct {
	WorkspaceName           string       `json:"workspaceName"`
	OSSBucket               string       `json:"ossBucket,omitempty"`
	RAMRoleName             string       `json:"ramRoleName,omitempty"`
	PaymentType             string       `json:"paymentType,omitempty"`
	ResourceSpec            ResourceSpec `json:"resourceSpec"`
	GPUSpec                 []string     `json:"gpuSpec,omitempty"`
	DLFCatalogID            string       `json:"dlfCatalogId,omitempty"`
	DLFType                 string       `json:"dlfType,omitempty"`
	ReleaseType             string       `json:"releaseType,omitempty"`
	AutoStartSessionCluster bool         `json:"autoStartSessionCluster,omitempty"`
	ResourceGroupID         string       `json:"resourceGroupId,omitempty"`
	AutoRenew               string       `json:"autoRenew,omitempty"`
	AutoRenewPeriod         string       `json:"autoRenewPeriod,omitempty"`
	AutoRenewPeriodUnit     string       `json:"autoRenewPeriodUnit,omitempty"`
	Duration                string       `json:"duration,omitempty"`
	PaymentDurationUnit     string       `json:"paymentDurationUnit,omitempty"`
	ClientToken             string       `json:"clientToken,omitempty"`
	Tag                     []Tag        `json:"tag,omitempty"`
}

// UpdateWorkspaceRequest is the body of UpdateWorkspace: workspaceId names
// the workspace, workspaceName and cu (its quota) change what they are
// given. The rest is the SDK's, refused when it asks for something.
type UpdateWorkspaceRequest struct {
	WorkspaceID     string         `json:"workspaceId"`
	WorkspaceName   *string        `json:"workspaceName,omitempty"`
	CU              *FlexInt       `json:"cu,omitempty"`
	GPU             int32          `json:"gpu,omitempty"`
	GPUSpec         []string       `json:"gpuSpec,omitempty"`
	IPWhiteList     []string       `json:"ipWhiteList,omitempty"`
	ResourceGroupID string         `json:"resourceGroupId,omitempty"`
	Subscription    map[string]any `json:"subscription,omitempty"`
	GPUSubscription map[string]any `json:"gpuSubscription,omitempty"`
}

// UpdateWorkspaceResponse answers UpdateWorkspace. The order ids are
// empty: rayfleet places no orders.
type UpdateWorkspaceResponse struct {
	RequestID string              `json:"requestId"`
	OrderID   string              `json:"orderId"`
	Data      UpdateWorkspaceData `json:"data"`
}

// UpdateWorkspaceData is the data member of UpdateWorkspace's answer.
type UpdateWorkspaceData struct {
	OrderID string `json:"orderId"`
}

// CreateWorkspaceResponse answers CreateWorkspace.
type CreateWorkspaceResponse struct {
	RequestID   string `json:"requestId"`
	WorkspaceID string `json:"workspaceId"`
	OperationID string `json:"operationId"`
}

// Workspace is one item of ListWorkspaces. It carries every field of the
// SDK's model: what rayfleet has no counterpart for is there with its empty
// value (no DLF catalog, no IP allow-list, no resource group), and
// the subscription fields (autoRenew..., duration, paymentDurationUnit) are
// those of a pay-as-you-go workspace. prePaidQuota, the quota bought with a
// subscription, is left out rather than sent empty: rayfleet sells none.
type Workspace struct {
	WorkspaceID         string            `json:"workspaceId"`
	WorkspaceName       string            `json:"workspaceName"`
	RegionID            string            `json:"regionId"`
	ResourceSpec        string            `json:"resourceSpec"`
	Storage             string            `json:"storage"`
	PaymentType         string            `json:"paymentType"`
	WorkspaceStatus     string            `json:"workspaceStatus"`
	ReleaseType         string            `json:"releaseType"`
	CreateTime          int64             `json:"createTime"`
	EndTime             int64             `json:"endTime"`
	StateChangeReason   StateChangeReason `json:"stateChangeReason"`
	FailReason          string            `json:"failReason"`
	PaymentStatus       string            `json:"paymentStatus"`
	AutoRenew           bool              `json:"autoRenew"`
	AutoRenewPeriod     int32             `json:"autoRenewPeriod"`
	AutoRenewPeriodUnit string            `json:"autoRenewPeriodUnit"`
	Duration            int32             `json:"duration"`
	PaymentDurationUnit string            `json:"paymentDurationUnit"`
	DLFCatalogID        string            `json:"dlfCatalogId"`
	DLFType             string            `json:"dlfType"`
	GPUSpec             []string          `json:"gpuSpec"`
	IPWhiteList         []string          `json:"ipWhiteList"`
	PrePaidQuotaGPU     []struct{}        `json:"prePaidQuotaGpu"` // GPU quotas bought with a subscription: none
	ResourceGroupID     string            `json:"resourceGroupId"`
	Tags                []WorkspaceTag    `json:"tags"`
}

// WorkspaceTag is a workspace's tag as ListWorkspaces names its members.
type WorkspaceTag struct {
	TagKey   string `json:"tagKey"`
	TagValue string `json:"tagValue"`
}

// ListWorkspacesResponse answers ListWorkspaces.
type ListWorkspacesResponse struct {
	RequestID  string      `json:"requestId"`
	Workspaces []Workspace `json:"workspaces"`
	NextToken  string      `json:"nextToken"`
	MaxResults int         `json:"maxResults"`
	TotalCount int         `json:"totalCount"`
}

// QueueRequest is the body of CreateWorkspaceQueue and EditWorkspaceQueue.
// Environments left out (nil) keep a queue's, or are both for a new one.
// GPUSpec, InstanceID and Preheat are the SDK's, refused when they ask for
// something: rayfleet's queues hold CU only.
type QueueRequest struct {
	WorkspaceID        string       `json:"workspaceId"`
	WorkspaceQueueName string       `json:"workspaceQueueName"`
	Description        *string      `json:"description,omitempty"`
	QueueCategory      string       `json:"queueCategory,omitempty"`
	PaymentType        string       `json:"paymentType,omitempty"`
	ResourceSpec       ResourceSpec `json:"resourceSpec"`
	Environments       []string     `json:"environments,omitempty"`
	GPUSpec            []string     `json:"gpuSpec,omitempty"`
	InstanceID         string       `json:"instanceId,omitempty"`
	Preheat            bool         `json:"preheat,omitempty"`
	ClientToken        string       `json:"clientToken,omitempty"`
}

// Queue is one item of ListWorkspaceQueues. maxResource, minResource and
// usedResource are JSON text such as {"cpu":"64","memory":"256Gi"}.
type Queue struct {
	QueueName     string   `json:"queueName"`
	WorkspaceID   string   `json:"workspaceId"`
	RegionID      string   `json:"regionId"`
	QueueType     string   `json:"queueType"`
	QueueCategory string   `json:"queueCategory"`
	QueueStatus   string   `json:"queueStatus"`
	QueueScope    string   `json:"queueScope"`
	Properties    string   `json:"properties"`
	MaxResource   string   `json:"maxResource"`
	MinResource   string   `json:"minResource"`
	UsedResource  string   `json:"usedResource"`
	Environments  []string `json:"environments"`
	PaymentType   string   `json:"paymentType"`
	Creator       string   `json:"creator"`
	CreateTime    int64    `json:"createTime"`
	Description   string   `json:"description"`
	// What rayfleet's queues have no counterpart for, empty: no actions
	// listed, no GPU types or machines, no resource instance, no preheat.
	AllowActions  []QueueAction `json:"allowActions"`
	GPUSpec       []string      `json:"gpuSpec"`
	GPUMachineNum int32         `json:"gpuMachineNum"`
	InstanceID    string        `json:"instanceId"`
	Preheat       bool          `json:"preheat"`
}

// QueueAction is an operation a queue allows, as the hosted product lists it.
type QueueAction struct {
	ActionArn    string   `json:"actionArn"`
	ActionName   string   `json:"actionName"`
	DisplayName  string   `json:"displayName"`
	Description  string   `json:"description"`
	Dependencies []string `json:"dependencies"`
}

// ListQueuesResponse answers ListWorkspaceQueues.
type ListQueuesResponse struct {
	RequestID  string  `json:"requestId"`
	Queues     []Queue `json:"queues"`
	TotalCount int     `json:"totalCount"`
	NextToken  string  `json:"nextToken"`
	MaxResults int     `json:"maxResults"`
}

// CapitalRequestIDResponse answers EditWorkspaceQueue and
// DeleteWorkspaceQueue, which the hosted product answers with "RequestId",
// and the RAM operations that answer with nothing else.
type CapitalRequestIDResponse struct {
	RequestID string `json:"RequestId"`
}

// ReleaseVersion is one item of ListReleaseVersions.
type ReleaseVersion struct {
	ReleaseVersion        string   `json:"releaseVersion"`
	DisplayReleaseVersion string   `json:"displayReleaseVersion"`
	State                 string   `json:"state"`
	Type                  string   `json:"type"`
	IaasType              string   `json:"iaasType"`
	GmtCreate             int64    `json:"gmtCreate"`
	CommunityVersion      string   `json:"communityVersion"`
	ScalaVersion          string   `json:"scalaVersion"`
	CPUArchitectures      []string `json:"cpuArchitectures"`
	Fusion                bool     `json:"fusion"`
	IsCustom              bool     `json:"isCustom"`
	// Extensions: what the engine is made of.
	RayVersion    string `json:"rayVersion"`
	PythonVersion string `json:"pythonVersion"`
	Image         string `json:"image"`
}

// ListReleaseVersionsResponse answers ListReleaseVersions.
type ListReleaseVersionsResponse struct {
	RequestID       string           `json:"requestId"`
	ReleaseVersions []ReleaseVersion `json:"releaseVersions"`
	NextToken       string           `json:"nextToken"`
	MaxResults      int              `json:"maxResults"`
	TotalCount      int              `json:"totalCount"`
}

// StateChangeReason explains a state.
type StateChangeReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// NetworkService is one item of ListNetworkServices.
type NetworkService struct {
	Name              string            `json:"name"`
	NetworkServiceID  string            `json:"networkServiceId"`
	State             string            `json:"state"`
	StateChangeReason StateChangeReason `json:"stateChangeReason"`
	Type              string            `json:"type"`
	VpcID             string            `json:"vpcId"`
	VSwitchIDs        []string          `json:"vswitchIds"`
	SecurityGroupID   string            `json:"securityGroupId"`
	WorkspaceID       string            `json:"workspaceId"`
}

// ListNetworkServicesResponse answers ListNetworkServices. Queues is the
// SDK model's deprecated second list of the same items, sent as it is read
// there: the network services again.
type ListNetworkServicesResponse struct {
	RequestID       string           `json:"requestId"`
	NetworkServices []NetworkService `json:"networkServices"`
	Queues          []NetworkService `json:"queues"`
	TotalCount      int              `json:"totalCount"`
	NextToken       string           `json:"nextToken"`
	MaxResults      int              `json:"maxResults"`
}

// CreateNetworkServiceRequest is the body of CreateNetworkService.
type CreateNetworkServiceRequest struct {
	Name            string   `json:"name"`
	VpcID           string   `json:"vpcId,omitempty"`
	VSwitchIDs      []string `json:"vswitchIds,omitempty"`
	SecurityGroupID string   `json:"securityGroupId,omitempty"`
	Type            string   `json:"type,omitempty"`
	ClientToken     string   `json:"clientToken,omitempty"`
}

// OperationResponse answers CreateNetworkService.
type OperationResponse struct {
	RequestID   string `json:"requestId"`
	OperationID string `json:"operationId"`
}

// ErrorResponse is the body of every error.
type ErrorResponse struct {
	RequestID          string              `json:"RequestId"`
	HostID             string              `json:"HostId"`
	Code               string              `json:"Code"`
	Message            string              `json:"Message"`
	Recommend          string              `json:"Recommend"`
	AccessDeniedDetail *AccessDeniedDetail `json:"AccessDeniedDetail,omitempty"`
}

// AccessDeniedDetail says which action on which resource was refused.
type AccessDeniedDetail struct {
	AuthAction               string `json:"AuthAction"`
	AuthPrincipalType        string `json:"AuthPrincipalType,omitempty"`
	AuthPrincipalOwnerID     string `json:"AuthPrincipalOwnerId,omitempty"`
	AuthPrincipalDisplayName string `json:"AuthPrincipalDisplayName,omitempty"`
	NoPermissionType         string `json:"NoPermissionType,omitempty"`
	PolicyType               string `json:"PolicyType,omitempty"`
	AuthResource             string `json:"AuthResource,omitempty"`
	EncodedDiagnosticMessage string `json:"EncodedDiagnosticMessage,omitempty"`
}
