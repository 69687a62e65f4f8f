package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet/api/signer"
)

// wireKinds maps each JSON name of a struct type to its wire type: string,
// bool, int32, int64, float64, object, []string or []object.
func wireKinds(t reflect.Type) map[string]string {
	out := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = wireKind(f.Type)
	}
	return out
}

func wireKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "[]object"
		}
		return "[]" + wireKind(t.Elem())
	case reflect.Struct:
		return "object"
	default:
		return t.Kind().String()
	}
}

// kinds builds a name → kind table from "kind: name name ..." groups, as
// the reference lists the fields.
func kinds(groups ...string) map[string]string {
	out := map[string]string{}
	for _, g := range groups {
		kind, names, _ := strings.Cut(g, ":")
		for _, n := range strings.Fields(names) {
			out[n] = kind
		}
	}
	return out
}

// TestJobWireTypes checks every request and response type of the job and
// log operations against the field lists of the SDK contract: the same
// JSON names, nothing missing, nothing extra but the named extensions,
// and the same types and integer widths.
func TestJobWireTypes(t *testing.T) {
	for _, tc := range []struct {
		typ        any
		want       map[string]string
		extensions []string
	}{
		{SubmitJobRequest{}, kinds(
			"string: name entrypoint displayReleaseVersion clusterId networkServiceName runtimeEnvJson workingDir metadataJson submissionMode entrypointNumCpus entrypointNumGpus entrypointMemory entrypointResources extraParam",
			"int32: activeDeadlineSeconds ttlSecondsAfterFinished", "bool: shutdownAfterJobFinishes",
			"[]string: volumeIds", "[]object: tags workerSpec", "object: headSpec"), []string{"clientToken"}},
		{JobHeadSpec{}, kinds("string: cpu memory queueName gpuSpec displayReleaseVersion", "bool: enableAutoScaling", "int32: idleTimeoutSeconds"), nil},
		{JobWorkerSpec{}, kinds("string: cpu memory queueName gpuSpec groupName workerType displayReleaseVersion", "int32: replica minReplica maxReplica"), nil},
		{Tag{}, kinds("string: key value"), nil},
		{SubmitJobResponse{}, kinds("string: requestId submissionId"), nil},
		{Job{}, kinds(
			"string: requestId submissionId name status clusterState message entrypoint entrypointMemory entrypointNumCpus entrypointNumGpus entrypointResources runtimeEnvJson metadataJson workingDir extraParam submissionMode networkServiceName displayReleaseVersion taskBizId dashboardUrl logBucketName logPath creatorName",
			"int32: activeDeadlineSeconds backoffLimit ttlSecondsAfterFinished", "bool: shutdownAfterJobFinishes",
			"int64: submitTime startTime endTime duration", "float64: cuHours", "object: guHours headSpec",
			"[]string: dashboardUrlExtra volumeIds", "[]object: tags workerSpecs"), []string{"clusterId"}},
		{GUHours{}, kinds("float64: gpuHours", "string: gpuSpec"), nil},
		{JobClusterHeadSpec{}, kinds("string: cpu memory queueName gpuSpec displayReleaseVersion", "bool: enableAutoScaling", "int32: idleTimeoutSeconds replica"), nil},
		{JobClusterWorkerSpec{}, kinds("string: cpu memory queueName gpuSpec groupName displayReleaseVersion", "int32: replica minReplica maxReplica"), nil},
		{ListJobsResponse{}, kinds("string: requestId", "int32: totalCount", "[]object: rayJobs"), []string{"pageNum", "pageSize"}},
		{JobSummary{}, kinds("string: submissionId name status clusterState creatorName dashboardUrl resourceQueue", "float64: cuHours", "int64: duration submitTime startTime endTime"), nil},
		{TimeRange{}, kinds("int64: endTime startTime"), nil},
		{CancelJobResponse{}, kinds("string: requestId", "bool: success"), nil},
		{GetLogResponse{}, kinds("string: requestId code message", "object: data"), nil},
		{LogURL{}, kinds("string: accessUrl"), nil},
		{ListLogsResponse{}, kinds("string: requestId code message", "object: data"), nil},
		{LogListing{}, kinds("string: bucketName prefix marker delimiter nextMarker", "int64: maxKeys", "bool: isTruncated", "[]object: objectList"), nil},
		{LogObject{}, kinds("string: name path", "int64: size timeModified", "bool: isDir"), nil},
	} {
		typ := reflect.TypeOf(tc.typ)
		got := wireKinds(typ)
		for _, ext := range tc.extensions {
			if _, ok := got[ext]; !ok {
				t.Errorf("%s: extension %s is gone; drop it from the test", typ.Name(), ext)
			}
			delete(got, ext)
		}
		var diffs []string
		for name, kind := range tc.want {
			if got[name] != kind {
				diffs = append(diffs, name+": "+orNone(got[name])+", want "+kind)
			}
		}
		for name, kind := range got {
			if _, ok := tc.want[name]; !ok {
				diffs = append(diffs, name+": "+kind+", not in the SDK's model")
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			t.Errorf("%s differs from the SDK contract:\n  %s", typ.Name(), strings.Join(diffs, "\n  "))
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "missing"
	}
	return s
}

// The submitTime of the reference: sent by Go and TypeScript in the
// model's key order, without spaces.
const refSubmitTime = `{"endTime":1780018822000,"startTime":1780017822000}`

func int64p(n int64) *int64 { return &n }

func TestListJobsQuery(t *testing.T) {
	o := ListJobsOptions{
		PageNum: 2, PageSize: 20, Name: "my job", SubmissionID: "rj-k7nm8ahl5te4tg91", TaskBizID: "TSK-db8b870d901e443ba0aebba40c923e02",
		SubmitTime: &TimeRange{StartTime: int64p(1780017822000), EndTime: int64p(1780018822000)},
	}
	q := o.Values()
	if got := q.Get("submitTime"); got != refSubmitTime {
		t.Errorf("submitTime = %s, want %s", got, refSubmitTime)
	}
	want := url.Values{"pageNum": {"2"}, "pageSize": {"20"}, "name": {"my job"}, "submissionId": {"rj-k7nm8ahl5te4tg91"},
		"taskBizId": {"TSK-db8b870d901e443ba0aebba40c923e02"}, "submitTime": {refSubmitTime}}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("query = %v, want %v", q, want)
	}
	// What reaches the server is one percent-encoded parameter, never
	// submitTime.startTime= or the like.
	raw := q.Encode()
	if !strings.Contains(raw, "submitTime=%7B%22endTime%22%3A1780018822000%2C%22startTime%22%3A1780017822000%7D") {
		t.Errorf("encoded query %s does not carry submitTime as one JSON parameter", raw)
	}
	back, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseListJobsQuery(back)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("parsed back %+v, want %+v", got, o)
	}
	if len(ListJobsOptions{}.Values()) != 0 {
		t.Errorf("empty options encode as %v, want nothing", ListJobsOptions{}.Values())
	}
}

func TestParseTimeRange(t *testing.T) {
	for _, tc := range []struct {
		in         string
		start, end *int64
		bad        bool
	}{
		{in: refSubmitTime, start: int64p(1780017822000), end: int64p(1780018822000)},
		// Python's to_json_string: another order, with spaces.
		{in: `{"startTime": 1780017822000, "endTime": 1780018822000}`, start: int64p(1780017822000), end: int64p(1780018822000)},
		{in: `{"startTime":1780017822000}`, start: int64p(1780017822000)},
		{in: `{}`},
		{in: `{"startTime":1,"extra":"ignored"}`, start: int64p(1)},
		{in: `1780017822000`, bad: true},
		{in: `{"startTime":"1780017822000"}`, bad: true},
		{in: `{"startTime":1.5}`, bad: true},
		{in: `{"startTime":1} {}`, bad: true},
		{in: `submitTime.startTime=1`, bad: true},
	} {
		r, err := ParseTimeRange(tc.in)
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "submitTime") {
				t.Errorf("ParseTimeRange(%s) = %+v, %v; want an error naming submitTime", tc.in, r, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(r.StartTime, tc.start) || !reflect.DeepEqual(r.EndTime, tc.end) {
			t.Errorf("ParseTimeRange(%s) = %+v, %v", tc.in, r, err)
		}
	}
	if _, err := ParseListJobsQuery(url.Values{"pageSize": {"x"}}); err == nil || !strings.Contains(err.Error(), "pageSize") {
		t.Errorf("pageSize=x: %v, want an error naming pageSize", err)
	}
	if _, err := ParseListJobsQuery(url.Values{"pageNum": {"4294967296"}}); err == nil {
		t.Error("pageNum beyond int32 was accepted")
	}
	o, err := ParseListJobsQuery(url.Values{"submitTime": {""}})
	if err != nil || o.SubmitTime != nil {
		t.Errorf("an empty submitTime: %+v, %v; want no filter", o, err)
	}
}

// TestSubmitJobBody encodes a request with the reference's example values:
// the entrypoint resources are JSON strings, the seconds JSON numbers, and
// fields left empty are left out.
func TestSubmitJobBody(t *testing.T) {
	yes := true
	req := SubmitJobRequest{
		Name: "my-job", Entrypoint: `python -c "print('hello ray job')"`, DisplayReleaseVersion: "err-1.2.0 (Ray 2.55.1, Python 3.12)",
		ClusterID:          "ray-k7nm8ahl5te4tg91",
		NetworkServiceName: "vpc", RuntimeEnvJSON: `{"pip":["requests==2.26.0","pendulum==2.1.2"],"env_vars":{"KEY":"VALUE"}}`,
		WorkingDir: "oss://mybucket/rayjob.zip", MetadataJSON: `{"resourceName": "test"}`, SubmissionMode: "HTTPMode",
		EntrypointNumCPUs: "1", EntrypointNumGPUs: "0", EntrypointMemory: "4Gi", EntrypointResources: `{"fpu": 1}`,
		ActiveDeadlineSeconds: 3600, ShutdownAfterJobFinishes: &yes, TTLSecondsAfterFinished: 60,
		Tags:     []Tag{{Key: "jobname", Value: "test"}},
		HeadSpec: &JobHeadSpec{CPU: "2", Memory: "8Gi", QueueName: "root_queue"},
		WorkerSpec: []JobWorkerSpec{{GroupName: "WorkerGroup1", WorkerType: "CPU", Replica: 2, MinReplica: 1, MaxReplica: 10,
			QueueName: "root_queue", CPU: "4", Memory: "16Gi"}},
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"entrypointNumCpus", "entrypointNumGpus", "entrypointMemory", "entrypointResources", "runtimeEnvJson", "metadataJson"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("%s is %T in the body, want a JSON string", k, m[k])
		}
	}
	for k, want := range map[string]float64{"activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 60} {
		if m[k] != want {
			t.Errorf("%s = %v (%T), want the number %v", k, m[k], m[k], want)
		}
	}
	if m["shutdownAfterJobFinishes"] != true {
		t.Errorf("shutdownAfterJobFinishes = %v", m["shutdownAfterJobFinishes"])
	}
	for _, k := range []string{"volumeIds", "extraParam", "clientToken"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s was left empty but is in the body", k)
		}
	}
	// An SDK's body decodes into the type unchanged.
	var back SubmitJobRequest
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, req) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	// Left out, shutdownAfterJobFinishes is nil: the default (true) is the
	// server's to apply, and false stays false.
	var none, no SubmitJobRequest
	_ = json.Unmarshal([]byte(`{"entrypoint":"x"}`), &none)
	_ = json.Unmarshal([]byte(`{"shutdownAfterJobFinishes":false}`), &no)
	if none.ShutdownAfterJobFinishes != nil || no.ShutdownAfterJobFinishes == nil || *no.ShutdownAfterJobFinishes {
		t.Errorf("shutdownAfterJobFinishes: left out %v, false %v", none.ShutdownAfterJobFinishes, no.ShutdownAfterJobFinishes)
	}
}

// TestJobResponses decodes answers shaped as the reference's examples,
// with values beyond int32 where the SDK has int64.
func TestJobResponses(t *testing.T) {
	var j Job
	err := json.Unmarshal([]byte(`{"requestId":"DD6B1B2A-5837-5237-ABE4-FF0C8944","submissionId":"rj-k7nm8ahl5te4tg91","name":"myRayCluster",
		"status":"Running","clusterState":"Running","message":"Job finished successfully.","activeDeadlineSeconds":3600,"backoffLimit":0,
		"shutdownAfterJobFinishes":true,"ttlSecondsAfterFinished":60,"submitTime":1780017822000,"startTime":1780017823000,"endTime":1780018822000,
		"duration":3000000000,"cuHours":1899.5,"guHours":{"gpuHours":0.25,"gpuSpec":"ecs.gn6i-c4g1.xlarge"},"taskBizId":"TSK-682e",
		"logBucketName":"ss-ray-cn-hangzhou","logPath":"w-xxxxxxx/ray/logs/xxxxxx/","creatorName":"Alice","dashboardUrlExtra":[],
		"headSpec":{"cpu":"2","memory":"8Gi","queueName":"root_queue","replica":1,"idleTimeoutSeconds":60},
		"workerSpecs":[{"groupName":"WorkerGroup1","replica":2,"minReplica":1,"maxReplica":10,"cpu":"4","memory":"16Gi"}],
		"tags":[{"key":"jobname","value":"test"}]}`), &j)
	if err != nil {
		t.Fatal(err)
	}
	if j.Duration != 3000000000 || j.CUHours != 1899.5 || j.SubmitTime != 1780017822000 || j.GUHours.GPUHours != 0.25 ||
		j.HeadSpec.Replica != 1 || len(j.WorkerSpecs) != 1 || j.WorkerSpecs[0].MaxReplica != 10 || j.Tags[0].Value != "test" {
		t.Errorf("GetRayJob decoded as %+v", j)
	}
	var l ListJobsResponse
	if err := json.Unmarshal([]byte(`{"requestId":"x","totalCount":100000,"rayJobs":[{"submissionId":"rj-1","resourceQueue":"root_queue","cuHours":0.5,"duration":61,"submitTime":1780017822000}]}`), &l); err != nil {
		t.Fatal(err)
	}
	if l.TotalCount != 100000 || l.RayJobs[0].ResourceQueue != "root_queue" || l.RayJobs[0].SubmitTime != 1780017822000 {
		t.Errorf("ListRayJob decoded as %+v", l)
	}
	var lg ListLogsResponse
	if err := json.Unmarshal([]byte(`{"requestId":"x","code":"1000000","message":"","data":{"bucketName":"mybucket","prefix":"/w-1/ray/logs/rj-1_default/",
		"delimiter":"/","maxKeys":100,"isTruncated":true,"nextMarker":"m","objectList":[{"name":"rj-1_driver.log","path":"/w-1/ray/logs/rj-1_default/driver/rj-1_driver.log","size":5368709120,"isDir":false,"timeModified":1780017822000}]}}`), &lg); err != nil {
		t.Fatal(err)
	}
	if lg.Code != LogSuccess || lg.Data.ObjectList[0].Size != 5368709120 || !lg.Data.IsTruncated || lg.Data.MaxKeys != 100 {
		t.Errorf("ListRayLogs decoded as %+v", lg)
	}
}

// request is what the test server saw of one call.
type request struct {
	method, path, rawQuery, contentType, action, contentSHA string
	body                                                    []byte
	query                                                   url.Values
}

// recordCalls starts a server that records each request and answers with
// answer, and returns a client of it.
func recordCalls(t *testing.T, answer string) (*Client, *[]request) {
	t.Helper()
	var seen []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, request{
			method: r.Method, path: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery, query: r.URL.Query(),
			contentType: r.Header.Get("Content-Type"), action: r.Header.Get("x-acs-action"),
			contentSHA: r.Header.Get("x-acs-content-sha256"), body: b,
		})
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return &Client{Endpoint: srv.URL, Credentials: signer.Credentials{AccessKeyID: "LTAIexample", AccessKeySecret: "secret"}}, &seen
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestJobCalls checks each operation's method, path, query and body on the
// wire, as the reference's table has them.
func TestJobCalls(t *testing.T) {
	ctx := context.Background()
	c, seen := recordCalls(t, `{"requestId":"R","success":true,"submissionId":"rj-1"}`)
	ws, id := "w-d2d82aa09155", "rj-k7nm8ahl5te4tg91"
	empty := sha(nil)

	if _, err := c.SubmitJob(ctx, ws, &SubmitJobRequest{Name: "n", Entrypoint: "python main.py", EntrypointNumCPUs: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetJob(ctx, ws, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListJobs(ctx, ws, ListJobsOptions{PageSize: 20, SubmitTime: &TimeRange{StartTime: int64p(1780017822000), EndTime: int64p(1780018822000)}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.CancelJob(ctx, ws, id)
	if err != nil || !res.Success {
		t.Fatalf("CancelJob: %+v, %v", res, err)
	}
	if _, err := c.GetLog(ctx, ws, id, GetLogOptions{BucketName: "mybucket", Path: "/w-xxxxxxx/ray/logs/rj-xxxxxxxxxx_default/xxxx/rj-xxxx_driver.log"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListLogs(ctx, ws, id, ListLogsOptions{BucketName: "mybucket", Prefix: "/w-xxxxxxx/ray/logs/rj-xxxxxxxxxx_default/", Delimiter: "/", MaxKeys: 100, Marker: "m"}); err != nil {
		t.Fatal(err)
	}

	want := []struct {
		action, method, path string
		query                url.Values
		body                 bool
	}{
		{"SubmitRayJob", "POST", "/api/v1/workspaces/w-d2d82aa09155/rayJob", url.Values{}, true},
		{"GetRayJob", "GET", "/api/v1/workspaces/w-d2d82aa09155/rayJob/rj-k7nm8ahl5te4tg91", url.Values{}, false},
		{"ListRayJob", "GET", "/api/v1/workspaces/w-d2d82aa09155/rayJob", url.Values{"pageSize": {"20"}, "submitTime": {refSubmitTime}}, false},
		{"CancelRayJob", "POST", "/api/v1/workspaces/w-d2d82aa09155/rayJob/rj-k7nm8ahl5te4tg91/cancel", url.Values{}, false},
		{"GetRayLog", "GET", "/api/interactive/v1/workspace/w-d2d82aa09155/ray/rj-k7nm8ahl5te4tg91/log",
			url.Values{"bucketName": {"mybucket"}, "path": {"/w-xxxxxxx/ray/logs/rj-xxxxxxxxxx_default/xxxx/rj-xxxx_driver.log"}}, false},
		{"ListRayLogs", "GET", "/api/interactive/v1/workspace/w-d2d82aa09155/ray/rj-k7nm8ahl5te4tg91/logs",
			url.Values{"bucketName": {"mybucket"}, "prefix": {"/w-xxxxxxx/ray/logs/rj-xxxxxxxxxx_default/"}, "delimiter": {"/"}, "maxKeys": {"100"}, "marker": {"m"}}, false},
	}
	if len(*seen) != len(want) {
		t.Fatalf("%d requests, want %d", len(*seen), len(want))
	}
	for i, w := range want {
		got := (*seen)[i]
		if got.action != w.action || got.method != w.method || got.path != w.path || !reflect.DeepEqual(got.query, w.query) {
			t.Errorf("%s: %s %s?%s (action %s), want %s %s %v", w.action, got.method, got.path, got.rawQuery, got.action, w.method, w.path, w.query)
		}
		switch {
		case w.body && (got.contentType != "application/json; charset=utf-8" || got.contentSHA != sha(got.body) || len(got.body) == 0):
			t.Errorf("%s: body %q with content-type %q and hash %s", w.action, got.body, got.contentType, got.contentSHA)
		case !w.body && (len(got.body) != 0 || got.contentType != "" || got.contentSHA != empty):
			// CancelRayJob is a POST whose request model is empty: no body,
			// no Content-Type, the empty string's hash.
			t.Errorf("%s: sent body %q, content-type %q, hash %s; want none, none, %s", w.action, got.body, got.contentType, got.contentSHA, empty)
		}
	}
	var body map[string]any
	if err := json.Unmarshal((*seen)[0].body, &body); err != nil || body["entrypointNumCpus"] != "1" {
		t.Errorf("SubmitRayJob body %s", (*seen)[0].body)
	}
}

func TestListLogsQuery(t *testing.T) {
	o := ListLogsOptions{BucketName: "b", Prefix: "p/", Marker: "m", Delimiter: "/", MaxKeys: 1 << 40}
	got, err := ParseListLogsQuery(o.Values())
	if err != nil || got != o {
		t.Errorf("round trip %+v: %+v, %v", o, got, err)
	}
	if _, err := ParseListLogsQuery(url.Values{"maxKeys": {"ten"}}); err == nil || !strings.Contains(err.Error(), "maxKeys") {
		t.Errorf("maxKeys=ten: %v", err)
	}
}
