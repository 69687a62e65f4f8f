package cli

import (
	"strings"
	"testing"
)

// TestOtherCommands checks each workspace, queue, release-version and
// network-service command: the request it sends and what it prints.
func TestOtherCommands(t *testing.T) {
	tests := []struct {
		args                        []string
		method, path, query, action string
		body                        string // "" for none
		resp                        string
		stdout                      []string
	}{
		{
			args:   []string{"workspace", "list", "--name", "res"},
			method: "GET", path: "/api/v1/workspaces", query: "name=res", action: "ListWorkspaces",
			resp: `{"requestId":"R","workspaces":[{"workspaceId":"w-1","workspaceName":"research",
				"workspaceStatus":"RUNNING","resourceSpec":"64cu","createTime":1723722279800}],"totalCount":1}`,
			stdout: []string{"ID", "NAME", "STATUS", "w-1", "research", "RUNNING", "64cu"},
		},
		{
			args:   []string{"workspace", "create", "research", "--cu", "128"},
			method: "POST", path: "/api/v1/workspaces", action: "CreateWorkspace",
			body:   `{"workspaceName":"research","resourceSpec":{"cu":128}}`,
			resp:   `{"requestId":"R","workspaceId":"w-new"}`,
			stdout: []string{"Created workspace w-new (research)", "-w w-new"},
		},
		{
			args:   []string{"workspace", "create", "small"},
			method: "POST", path: "/api/v1/workspaces", action: "CreateWorkspace",
			body:   `{"workspaceName":"small","resourceSpec":{"cu":64}}`,
			resp:   `{"requestId":"R","workspaceId":"w-small"}`,
			stdout: []string{"Created workspace w-small"},
		},
		{
			args:   []string{"workspace", "update", "w-1", "--name", "lab", "--cu", "96"},
			method: "POST", path: "/api/v1/workspaces/update", action: "UpdateWorkspace",
			body:   `{"workspaceId":"w-1","workspaceName":"lab","cu":96}`,
			resp:   `{"requestId":"R","orderId":"","data":{"orderId":""}}`,
			stdout: []string{"Updated workspace w-1"},
		},
		{
			args:   []string{"workspace", "update", "w-1", "--cu", "8"},
			method: "POST", path: "/api/v1/workspaces/update", action: "UpdateWorkspace",
			body:   `{"workspaceId":"w-1","cu":8}`,
			resp:   `{"requestId":"R","orderId":"","data":{"orderId":""}}`,
			stdout: []string{"Updated workspace w-1"},
		},
		{
			args:   []string{"workspace", "delete", "w-1"},
			method: "DELETE", path: "/api/v1/workspaces/w-1", action: "DeleteWorkspace",
			resp: `{"requestId":"R"}`, stdout: []string{"Deleted workspace w-1"},
		},
		{
			args:   []string{"queue", "list"},
			method: "GET", path: "/api/v1/workspaces/" + testWS + "/queues", action: "ListWorkspaceQueues",
			resp: `{"requestId":"R","queues":[{"queueName":"root_queue","queueCategory":"CPU","queueStatus":"RUNNING",
				"maxResource":"{\"cpu\":\"64\",\"memory\":\"256Gi\"}","usedResource":"{\"cpu\":\"6\",\"memory\":\"24Gi\"}"}]}`,
			stdout: []string{"NAME", "MAX", "USED", "root_queue", "64cpu/256Gi", "6cpu/24Gi"},
		},
		{
			args:   []string{"queue", "create", "dev_queue", "--cu", "16", "--description", "notebooks"},
			method: "POST", path: "/api/v1/workspaces/queues", action: "CreateWorkspaceQueue",
			body: `{"workspaceId":"` + testWS + `","workspaceQueueName":"dev_queue","description":"notebooks",
				"resourceSpec":{"cu":16}}`,
			resp: `{"requestId":"R"}`, stdout: []string{"Created queue dev_queue (16 CU)"},
		},
		{
			args:   []string{"queue", "edit", "dev_queue", "--cu", "32"},
			method: "POST", path: "/api/v1/workspaces/queues/action/edit", action: "EditWorkspaceQueue",
			body: `{"workspaceId":"` + testWS + `","workspaceQueueName":"dev_queue","resourceSpec":{"cu":32}}`,
			resp: `{"RequestId":"R"}`, stdout: []string{"Updated queue dev_queue: 32 CU"},
		},
		{
			args:   []string{"queue", "delete", "dev_queue"},
			method: "DELETE", path: "/api/v1/workspaces/" + testWS + "/queues/dev_queue", action: "DeleteWorkspaceQueue",
			resp: `{"RequestId":"R"}`, stdout: []string{"Deleted queue dev_queue"},
		},
		{
			args:   []string{"release-version", "list"},
			method: "GET", path: "/api/v1/releaseVersions", action: "ListReleaseVersions",
			resp: `{"requestId":"R","releaseVersions":[{"releaseVersion":"ray-1.0.0","displayReleaseVersion":"ray-1.0.0 (Ray 2.47.1, Python 3.12)",
				"state":"ONLINE","type":"stable","rayVersion":"2.47.1","pythonVersion":"3.12","image":"rayproject/ray:2.47.1-py312"}]}`,
			stdout: []string{"VERSION", "RAY", "IMAGE", "ray-1.0.0 (Ray 2.47.1, Python 3.12)", "2.47.1", "rayproject/ray:2.47.1-py312"},
		},
		{
			args:   []string{"network-service", "list"},
			method: "GET", path: "/api/v1/workspaces/" + testWS + "/networkServices", action: "ListNetworkServices",
			resp: `{"requestId":"R","networkServices":[{"name":"vpc","networkServiceId":"ns-1","state":"running",
				"type":"NetworkService","vswitchIds":["vsw-1","vsw-2"]}]}`,
			stdout: []string{"NAME", "VSWITCHES", "vpc", "ns-1", "running", "vsw-1,vsw-2"},
		},
		{
			args: []string{
				"network-service", "create", "private", "--vpc-id", "vpc-1", "--vswitch-id", "vsw-1",
				"--vswitch-id", "vsw-2", "--security-group-id", "sg-1",
			},
			method: "POST", path: "/api/v1/workspaces/" + testWS + "/networkServices", action: "CreateNetworkService",
			body:   `{"name":"private","vpcId":"vpc-1","vswitchIds":["vsw-1","vsw-2"],"securityGroupId":"sg-1"}`,
			resp:   `{"requestId":"R","operationId":"op-1"}`,
			stdout: []string{"Created network service private", "op-1"},
		},
		{
			args:   []string{"logs", "list", "rj-1"},
			method: "GET", path: "/api/interactive/v1/workspace/" + testWS + "/ray/rj-1/logs", query: "delimiter=%2F", action: "ListRayLogs",
			resp: `{"requestId":"R","code":"1000000","message":"success","data":{"bucketName":"rayfleet-logs","prefix":"w/ray/logs/rj-1_default/",
				"marker":"","delimiter":"/","nextMarker":"w/ray/logs/rj-1_default/head-a/","maxKeys":2,"isTruncated":true,"objectList":[
				{"name":"driver","path":"w/ray/logs/rj-1_default/driver/","size":0,"isDir":true,"timeModified":0},
				{"name":"head-a","path":"w/ray/logs/rj-1_default/head-a/","size":0,"isDir":true,"timeModified":0}]}}`,
			stdout: []string{"PATH", "SIZE", "MODIFIED", "w/ray/logs/rj-1_default/driver/", "w/ray/logs/rj-1_default/head-a/",
				"More follow: add --marker w/ray/logs/rj-1_default/head-a/"},
		},
		{
			args:   []string{"logs", "list", "rj-1", "--all", "--max-keys", "5", "--marker", "w/a"},
			method: "GET", path: "/api/interactive/v1/workspace/" + testWS + "/ray/rj-1/logs", query: "marker=w%2Fa&maxKeys=5", action: "ListRayLogs",
			resp: `{"requestId":"R","code":"1000000","message":"success","data":{"bucketName":"rayfleet-logs","prefix":"w/ray/logs/rj-1_default/",
				"marker":"w/a","delimiter":"","nextMarker":"","maxKeys":5,"isTruncated":false,"objectList":[
				{"name":"rj-1_driver.log","path":"w/ray/logs/rj-1_default/driver/rj-1_driver.log","size":6,"isDir":false,"timeModified":1723722279800}]}}`,
			stdout: []string{"w/ray/logs/rj-1_default/driver/rj-1_driver.log", "6", "2024-08-15T11:44:39Z"},
		},
		{
			args:   []string{"logs", "get", "rj-1", "w/x.log", "--url"},
			method: "GET", path: "/api/interactive/v1/workspace/" + testWS + "/ray/rj-1/log", query: "path=w%2Fx.log", action: "GetRayLog",
			resp:   `{"requestId":"R","code":"1000000","message":"success","data":{"accessUrl":"http://h/logs/b/w/x.log?expires=1&signature=s"}}`,
			stdout: []string{"http://h/logs/b/w/x.log?expires=1&signature=s"},
		},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			srv := newFakeServer(t, answer(200, tt.resp))
			r := runCLI(t, srv.vars(t), "", tt.args...)
			r.wantCode(t, 0)
			c := srv.only(t)
			if c.Method != tt.method || c.Path != tt.path || c.Query != tt.query || c.Action != tt.action {
				t.Errorf("got %s %s?%s (%s), want %s %s?%s (%s)", c.Method, c.Path, c.Query, c.Action,
					tt.method, tt.path, tt.query, tt.action)
			}
			if tt.body == "" {
				if len(c.Body) != 0 {
					t.Errorf("body %q, want none", c.Body)
				}
			} else {
				jsonEqual(t, c.Body, tt.body)
			}
			contains(t, "stdout", r.stdout, tt.stdout...)

			// -o json prints the response as the server sent it.
			srv = newFakeServer(t, answer(200, tt.resp))
			r = runCLI(t, srv.vars(t), "", append(tt.args, "-o", "json")...)
			r.wantCode(t, 0)
			jsonEqual(t, []byte(r.stdout), tt.resp)
		})
	}
}
