package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/logstore"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store"
)

// tenant is one account of the isolation world and what it holds.
type tenant struct {
	id         string
	keys       []signer.Credentials // the root user's key, then an administrator's
	workspaces []string
	clusters   map[string][]string // by workspace
	jobs       map[string][]string // by workspace, each with a driver log
	users      []string            // RAM user names
	userKeys   []string            // their access key ids
	policies   []string            // custom policy names
}

type world struct {
	t       *rapid.T
	srv     *httptest.Server
	svc     *service.Service
	logs    *logstore.Dir
	tenants []*tenant
}

const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomString(t *rapid.T, alphabet string, n int, label string) string {
	runes := rapid.SliceOfN(rapid.SampledFrom([]rune(alphabet)), n, n).Draw(t, label)
	return string(runes)
}

// newTenant makes an account the way a first start does (root user, root
// key), then fills it through the service as its root user.
func (w *world) newTenant() *tenant {
	ctx := context.Background()
	t := w.t
	tn := &tenant{id: "1" + randomString(t, "0123456789", 15, "account"), clusters: map[string][]string{}, jobs: map[string][]string{}}
	uid := "2" + randomString(t, "0123456789", 17, "uid")
	st := w.svc.Store
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := st.CreateUser(ctx, rayfleet.User{UID: uid, AccountID: tn.id, Name: "root", Nickname: "root", Root: true, CreateTime: now, UpdateTime: now}); err != nil {
		t.Fatal(err)
	}
	keyID, secret := "LTAI"+randomString(t, lowerAlnum, 20, "key"), randomString(t, lowerAlnum, 30, "secret")
	sealed, err := w.svc.Sealer.Seal([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccessKey(ctx, rayfleet.AccessKey{ID: keyID, AccountID: tn.id, UserUID: uid, SecretSealed: sealed, Status: rayfleet.KeyActive, CreateTime: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(ctx, rayfleet.Account{ID: tn.id, Name: "tenant", CreateTime: now}); err != nil {
		t.Fatal(err)
	}
	tn.keys = append(tn.keys, signer.Credentials{AccessKeyID: keyID, AccessKeySecret: secret})
	root, _, err := w.svc.Authenticate(ctx, keyID)
	if err != nil {
		t.Fatal(err)
	}

	for i := range rapid.IntRange(1, 2).Draw(t, "workspaces") {
		o, err := w.svc.CreateWorkspace(ctx, root, service.CreateWorkspaceInput{Name: "ws" + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		tn.workspaces = append(tn.workspaces, o.WorkspaceID)
		for range rapid.IntRange(0, 2).Draw(t, "clusters") {
			name := "c"
			c, err := w.svc.CreateCluster(ctx, root, o.WorkspaceID, rayfleet.ClusterPatch{Name: &name}, "")
			if err != nil {
				t.Fatal(err)
			}
			tn.clusters[o.WorkspaceID] = append(tn.clusters[o.WorkspaceID], c.ClusterID)
		}
		// Jobs on a cluster of the workspace, or with a cluster of their own,
		// each with its driver's log in the log store.
		for range rapid.IntRange(0, 2).Draw(t, "jobs") {
			spec := rayfleet.JobSpec{Entrypoint: "python main.py", Head: &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi"}, ShutdownAfterJobFinishes: true}
			if cs := tn.clusters[o.WorkspaceID]; len(cs) > 0 && rapid.Bool().Draw(t, "on a cluster") {
				spec.Head, spec.ClusterID = nil, rapid.SampledFrom(cs).Draw(t, "job's cluster")
			}
			submitted, err := w.svc.SubmitJob(ctx, root, o.WorkspaceID, spec, "")
			if err != nil {
				t.Fatal(err)
			}
			j, err := st.GetJob(ctx, tn.id, o.WorkspaceID, submitted.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.logs.Put(ctx, rayfleet.JobDriverLogKey(&j), strings.NewReader("the driver log of "+tn.id)); err != nil {
				t.Fatal(err)
			}
			tn.jobs[o.WorkspaceID] = append(tn.jobs[o.WorkspaceID], j.ID)
		}
	}
	// An administrator (AdministratorAccess), and other users with keys and
	// custom policies. Names may repeat across accounts, as they may in life.
	for i := range rapid.IntRange(1, 3).Draw(t, "users") {
		name := rapid.SampledFrom([]string{"alice", "bob", "carol", "dave"}).Draw(t, "user") + string(rune('0'+i))
		if _, err := w.svc.CreateUser(ctx, root, service.UserInput{Name: name}); err != nil {
			t.Fatal(err)
		}
		k, secret, err := w.svc.CreateAccessKey(ctx, root, name)
		if err != nil {
			t.Fatal(err)
		}
		tn.users, tn.userKeys = append(tn.users, name), append(tn.userKeys, k.ID)
		pol := "p-" + name
		doc := `{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:Get*","Resource":"*"}]}`
		if _, err := w.svc.CreatePolicy(ctx, root, pol, doc, ""); err != nil {
			t.Fatal(err)
		}
		tn.policies = append(tn.policies, pol)
		if i == 0 {
			if err := w.svc.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "AdministratorAccess", name); err != nil {
				t.Fatal(err)
			}
			tn.keys = append(tn.keys, signer.Credentials{AccessKeyID: k.ID, AccessKeySecret: secret})
		} else if err := w.svc.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, pol, name); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

// answer is what a caller learns from a response: the status, the error
// code and message, and a success body without its request id.
type answer struct {
	Status  int
	Code    string
	Message string
	Body    map[string]any
}

// call sends one signed call. version selects the API: the product's
// (ROA) or RAM's (RPC, on "/").
func (w *world) call(cred signer.Credentials, version, action, method, path string, query url.Values, body any) answer {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			w.t.Fatal(err)
		}
	}
	u := w.srv.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(data))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("x-acs-action", action)
	req.Header.Set("x-acs-version", version)
	if data != nil {
		req.Header.Set("content-type", "application/json")
	}
	if err := signer.SignACS3(req, data, cred, time.Now(), signer.NewNonce()); err != nil {
		w.t.Fatal(err)
	}
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		w.t.Fatalf("%s: response is not JSON: %s", action, raw)
	}
	a := answer{Status: resp.StatusCode}
	if resp.StatusCode >= 400 {
		a.Code, _ = m["Code"].(string)
		a.Message, _ = m["Message"].(string)
		return a
	}
	delete(m, "requestId")
	delete(m, "RequestId")
	a.Body = m
	return a
}

// sameAnswer checks that two answers differ only by the ids they name:
// each pair (real, missing) of replace is swapped for a placeholder.
func (w *world) sameAnswer(what string, foreign, missing answer, replace ...[2]string) {
	norm := func(a answer, pick int) answer {
		for i, r := range replace {
			ph := "<id" + string(rune('0'+i)) + ">"
			a.Message = strings.ReplaceAll(a.Message, r[pick], ph)
		}
		return a
	}
	f, m := norm(foreign, 0), norm(missing, 1)
	if !reflect.DeepEqual(f, m) {
		w.t.Fatalf("%s: another account's object answers\n  %+v\nbut a missing one\n  %+v", what, f, m)
	}
	if f.Status < 400 {
		w.t.Fatalf("%s: another account's object was acted on: %+v", what, f)
	}
}

// snapshot is everything an account holds, as its store rows say.
func (w *world) snapshot(tn *tenant) string {
	ctx := context.Background()
	st := w.svc.Store
	var out []any
	ws, _, err := st.ListWorkspaces(ctx, store.WorkspaceFilter{AccountID: tn.id})
	must(w.t, err)
	out = append(out, ws)
	for _, wsID := range tn.workspaces {
		cs, _, err := st.ListClusters(ctx, store.ClusterFilter{AccountID: tn.id, WorkspaceID: wsID})
		must(w.t, err)
		out = append(out, cs)
		qs, err := st.ListQueues(ctx, tn.id, wsID)
		must(w.t, err)
		out = append(out, qs)
		js, _, err := st.ListJobs(ctx, store.JobFilter{AccountID: tn.id, WorkspaceID: wsID})
		must(w.t, err)
		out = append(out, js)
		ls, err := w.svc.Logs.List(ctx, rayfleet.LogListOptions{Prefix: wsID + "/", MaxKeys: rayfleet.MaxLogKeys})
		must(w.t, err)
		out = append(out, ls)
	}
	us, err := st.ListUsers(ctx, tn.id)
	must(w.t, err)
	out = append(out, us)
	for _, u := range us {
		ks, err := st.ListAccessKeys(ctx, tn.id, u.UID)
		must(w.t, err)
		out = append(out, ks)
	}
	ps, err := st.ListPolicies(ctx, tn.id)
	must(w.t, err)
	as, err := st.ListAttachments(ctx, store.AttachmentFilter{AccountID: tn.id})
	must(w.t, err)
	out = append(out, ps, as)
	b, err := json.Marshal(out)
	must(w.t, err)
	return string(b)
}

func must(t *rapid.T, err error) {
	if err != nil {
		t.Fatal(err)
	}
}

func newWorld(t *testing.T, rt *rapid.T) *world {
	srv, svc, _ := testAPI(rt, t.TempDir())
	logs := giveLogs(rt, svc, t.TempDir())
	return &world{t: rt, srv: srv, svc: svc, logs: logs}
}

// TestAccountIsolation: in a world of several accounts with random
// workspaces, clusters, users, keys and policies, no key of one account can
// read, list, change or detect another account's objects. Every call on a
// foreign object answers exactly as the same call on a missing object of
// the same shape, and the other accounts' rows are unchanged afterwards.
func TestAccountIsolation(t *testing.T) {
	// Each check builds a database of several accounts and makes about a
	// hundred signed calls: 20 checks unless -rapid.checks asks otherwise.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit {
		if err := flag.Set("rapid.checks", "20"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = flag.Set("rapid.checks", "100") })
	}
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t, rt)
		n := rapid.IntRange(2, 3).Draw(rt, "accounts")
		for range n {
			w.tenants = append(w.tenants, w.newTenant())
		}
		ai := rapid.IntRange(0, n-1).Draw(rt, "attacker")
		a := w.tenants[ai]
		var victims []*tenant
		before := map[string]string{}
		for i, tn := range w.tenants {
			if i != ai {
				victims = append(victims, tn)
				before[tn.id] = w.snapshot(tn)
			}
		}
		b := rapid.SampledFrom(victims).Draw(rt, "victim")
		cred := rapid.SampledFrom(a.keys).Draw(rt, "key")
		const roa, rpc = "2023-08-08", "2015-05-01"

		// Workspace-level calls on a foreign workspace, and on a missing one.
		wsB := rapid.SampledFrom(b.workspaces).Draw(rt, "foreign workspace")
		wsMissing := "w-" + randomString(rt, "0123456789abcdef", 16, "missing workspace")
		wsPath := func(ws string, rest ...string) string {
			return "/api/v1/workspaces/" + ws + strings.Join(append([]string{""}, rest...), "/")
		}
		type roaCall struct {
			action, method string
			path           func(ws, id string) string
			body           func(ws, id string) any
		}
		clusterBody := func(string, string) any { return map[string]any{"name": "x"} }
		jobBody := func(string, string) any {
			return map[string]any{"entrypoint": "true", "headSpec": map[string]any{"cpu": "1", "memory": "2Gi"}}
		}
		noBody := func(string, string) any { return nil }
		wsCalls := []roaCall{
			{"ListRayCluster", "GET", func(ws, _ string) string { return wsPath(ws, "rayCluster") }, noBody},
			{"CreateRayCluster", "POST", func(ws, _ string) string { return wsPath(ws, "rayCluster") }, clusterBody},
			{"DeleteWorkspace", "DELETE", func(ws, _ string) string { return wsPath(ws) }, noBody},
			{"UpdateWorkspace", "POST", func(string, string) string { return "/api/v1/workspaces/update" }, func(ws, _ string) any {
				return map[string]any{"workspaceId": ws, "workspaceName": "taken", "cu": 1}
			}},
			{"ListWorkspaceQueues", "GET", func(ws, _ string) string { return wsPath(ws, "queues") }, noBody},
			{"DeleteWorkspaceQueue", "DELETE", func(ws, _ string) string { return wsPath(ws, "queues", "root_queue") }, noBody},
			{"EditWorkspaceQueue", "POST", func(string, string) string { return "/api/v1/workspaces/queues/action/edit" }, func(ws, _ string) any {
				return map[string]any{"workspaceId": ws, "workspaceQueueName": "root_queue", "resourceSpec": map[string]any{"cu": 1}}
			}},
			{"CreateWorkspaceQueue", "POST", func(string, string) string { return "/api/v1/workspaces/queues" }, func(ws, _ string) any {
				return map[string]any{"workspaceId": ws, "workspaceQueueName": "q", "resourceSpec": map[string]any{"cu": 1}}
			}},
			{"ListNetworkServices", "GET", func(ws, _ string) string { return wsPath(ws, "networkServices") }, noBody},
			{"SubmitRayJob", "POST", func(ws, _ string) string { return wsPath(ws, "rayJob") }, jobBody},
			{"ListRayJob", "GET", func(ws, _ string) string { return wsPath(ws, "rayJob") }, noBody},
			{"CreateNetworkService", "POST", func(ws, _ string) string { return wsPath(ws, "networkServices") }, func(string, string) any {
				return map[string]any{"name": "n2"}
			}},
		}
		for _, c := range wsCalls {
			f := w.call(cred, roa, c.action, c.method, c.path(wsB, ""), nil, c.body(wsB, ""))
			m := w.call(cred, roa, c.action, c.method, c.path(wsMissing, ""), nil, c.body(wsMissing, ""))
			w.sameAnswer(c.action+" on a foreign workspace", f, m, [2]string{wsB, wsMissing})
		}
		f := w.call(cred, roa, "ListReleaseVersions", "GET", "/api/v1/releaseVersions", url.Values{"workspaceId": {wsB}}, nil)
		m := w.call(cred, roa, "ListReleaseVersions", "GET", "/api/v1/releaseVersions", url.Values{"workspaceId": {wsMissing}}, nil)
		w.sameAnswer("ListReleaseVersions for a foreign workspace", f, m, [2]string{wsB, wsMissing})

		// Calls on a foreign object (of held, by workspace) in its own
		// workspace, and through one of the attacker's, against missing ones
		// (ids of prefix); it returns the object and the attacker's
		// workspace it tried, or false when the victim has none.
		onForeign := func(kind, prefix string, held map[string][]string, calls []roaCall) (id, own string, ok bool) {
			var objs [][2]string
			for ws, ids := range held {
				for _, id := range ids {
					objs = append(objs, [2]string{ws, id})
				}
			}
			if len(objs) == 0 {
				return "", "", false
			}
			slices.SortFunc(objs, func(x, y [2]string) int { return strings.Compare(x[0]+x[1], y[0]+y[1]) })
			fo := rapid.SampledFrom(objs).Draw(rt, "foreign "+kind)
			idMissing := prefix + randomString(rt, lowerAlnum, 16, "missing "+kind)
			own = rapid.SampledFrom(a.workspaces).Draw(rt, "own workspace")
			for _, c := range calls {
				f := w.call(cred, roa, c.action, c.method, c.path(fo[0], fo[1]), nil, c.body(fo[0], fo[1]))
				m := w.call(cred, roa, c.action, c.method, c.path(wsMissing, idMissing), nil, c.body(wsMissing, idMissing))
				w.sameAnswer(c.action+" on a foreign "+kind, f, m, [2]string{fo[0], wsMissing}, [2]string{fo[1], idMissing})
				f = w.call(cred, roa, c.action, c.method, c.path(own, fo[1]), nil, c.body(own, fo[1]))
				m = w.call(cred, roa, c.action, c.method, c.path(own, idMissing), nil, c.body(own, idMissing))
				w.sameAnswer(c.action+" on a foreign "+kind+" through an own workspace", f, m, [2]string{fo[1], idMissing})
			}
			return fo[1], own, true
		}
		onForeign("cluster", "ray-", b.clusters, []roaCall{
			{"GetRayCluster", "GET", func(ws, id string) string { return wsPath(ws, "rayCluster", id) }, noBody},
			{"UpdateRayCluster", "POST", func(ws, id string) string { return wsPath(ws, "rayCluster", id) }, clusterBody},
			{"StartRayCluster", "POST", func(ws, id string) string { return wsPath(ws, "rayCluster", id, "start") }, noBody},
			{"StopRayCluster", "POST", func(ws, id string) string { return wsPath(ws, "rayCluster", id, "stop") }, noBody},
			{"DeleteRayCluster", "DELETE", func(ws, id string) string { return wsPath(ws, "rayCluster", id) }, noBody},
			// A job submitted to a foreign cluster.
			{"SubmitRayJob", "POST", func(ws, _ string) string { return wsPath(ws, "rayJob") }, func(_, id string) any {
				return map[string]any{"entrypoint": "true", "clusterId": id}
			}},
		})
		if fj, own, ok := onForeign("job", "rj-", b.jobs, []roaCall{
			{"GetRayJob", "GET", func(ws, id string) string { return wsPath(ws, "rayJob", id) }, noBody},
			{"CancelRayJob", "POST", func(ws, id string) string { return wsPath(ws, "rayJob", id, "cancel") }, noBody},
		}); ok {
			// Nor does a list filtered by its id find it.
			lj := w.call(cred, roa, "ListRayJob", "GET", wsPath(own, "rayJob"), url.Values{"submissionId": {fj}}, nil)
			if n, _ := lj.Body["totalCount"].(float64); n != 0 || len(lj.Body["rayJobs"].([]any)) != 0 {
				rt.Fatalf("ListRayJob by a foreign job's id shows %+v", lj)
			}
		}

		// Job logs: a foreign job in its own workspace, and in one of the
		// attacker's, against missing ones; and a log URL of the attacker's
		// own, pointed at the foreign job's file.
		var foreignJobs [][2]string
		for ws, ids := range b.jobs {
			for _, id := range ids {
				foreignJobs = append(foreignJobs, [2]string{ws, id})
			}
		}
		slices.SortFunc(foreignJobs, func(x, y [2]string) int { return strings.Compare(x[0]+x[1], y[0]+y[1]) })
		logsPath := func(ws, id, leaf string) string {
			return "/api/interactive/v1/workspace/" + ws + "/ray/" + id + "/" + leaf
		}
		if len(foreignJobs) > 0 {
			fj := rapid.SampledFrom(foreignJobs).Draw(rt, "foreign job")
			idMissing := "rj-" + randomString(rt, lowerAlnum, 16, "missing job")
			own := rapid.SampledFrom(a.workspaces).Draw(rt, "own workspace for jobs")
			driver := func(ws, id string) string { return rayfleet.JobLogPath(ws, id) + "driver/" + id + "_driver.log" }
			for _, c := range []struct {
				action, leaf string
				q            func(ws, id string) url.Values
			}{
				{"ListRayLogs", "logs", func(ws, id string) url.Values {
					return url.Values{"prefix": {rayfleet.JobLogPath(ws, id)}, "delimiter": {"/"}, "maxKeys": {"10"}}
				}},
				{"GetRayLog", "log", func(ws, id string) url.Values {
					return url.Values{"bucketName": {rayfleet.DefaultLogBucket}, "path": {driver(ws, id)}}
				}},
			} {
				f := w.call(cred, roa, c.action, "GET", logsPath(fj[0], fj[1], c.leaf), c.q(fj[0], fj[1]), nil)
				m := w.call(cred, roa, c.action, "GET", logsPath(wsMissing, idMissing, c.leaf), c.q(wsMissing, idMissing), nil)
				w.sameAnswer(c.action+" on a foreign job", f, m, [2]string{fj[0], wsMissing}, [2]string{fj[1], idMissing})
				f = w.call(cred, roa, c.action, "GET", logsPath(own, fj[1], c.leaf), c.q(own, fj[1]), nil)
				m = w.call(cred, roa, c.action, "GET", logsPath(own, idMissing, c.leaf), c.q(own, idMissing), nil)
				w.sameAnswer(c.action+" on a foreign job through an own workspace", f, m, [2]string{fj[1], idMissing})
			}
			for ws, ids := range a.jobs {
				if len(ids) == 0 {
					continue
				}
				g := w.call(cred, roa, "GetRayLog", "GET", logsPath(ws, ids[0], "log"), url.Values{"path": {driver(ws, ids[0])}}, nil)
				data, _ := g.Body["data"].(map[string]any)
				access, _ := data["accessUrl"].(string)
				if g.Status != 200 || !strings.Contains(access, driver(ws, ids[0])) {
					rt.Fatalf("GetRayLog of an own job: %+v", g)
				}
				for _, u := range []string{
					strings.Replace(access, driver(ws, ids[0]), driver(fj[0], fj[1]), 1),
					strings.Replace(access, ws+"/", fj[0]+"/", 1),
				} {
					resp, err := w.srv.Client().Get(u)
					if err != nil {
						rt.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "the driver log of") {
						rt.Fatalf("an own log URL pointed at a foreign file answered %d %s", resp.StatusCode, body)
					}
				}
				break
			}
		}

		// RAM entities: a foreign user, key and policy, by names the attacker's
		// account does not use.
		ownUsers := append([]string{"root"}, a.users...)
		for i, name := range b.users {
			if slices.Contains(ownUsers, name) {
				continue
			}
			missing := "zz" + randomString(rt, lowerAlnum, 8, "missing user")
			for _, c := range []struct {
				action string
				q      func(name string) url.Values
			}{
				{"GetUser", func(n string) url.Values { return url.Values{"UserName": {n}} }},
				{"UpdateUser", func(n string) url.Values { return url.Values{"UserName": {n}, "NewDisplayName": {"taken"}} }},
				{"DeleteUser", func(n string) url.Values { return url.Values{"UserName": {n}} }},
				{"CreateAccessKey", func(n string) url.Values { return url.Values{"UserName": {n}} }},
				{"ListAccessKeys", func(n string) url.Values { return url.Values{"UserName": {n}} }},
				{"ListPoliciesForUser", func(n string) url.Values { return url.Values{"UserName": {n}} }},
				{"AttachPolicyToUser", func(n string) url.Values {
					return url.Values{"UserName": {n}, "PolicyType": {"System"}, "PolicyName": {"AdministratorAccess"}}
				}},
				{"UpdateAccessKey", func(n string) url.Values {
					return url.Values{"UserName": {n}, "UserAccessKeyId": {b.userKeys[i]}, "Status": {"Inactive"}}
				}},
			} {
				f := w.call(cred, rpc, c.action, "POST", "/", c.q(name), nil)
				m := w.call(cred, rpc, c.action, "POST", "/", c.q(missing), nil)
				w.sameAnswer(c.action+" on a foreign user", f, m, [2]string{name, missing})
			}
		}
		// A foreign key through one of the attacker's own users.
		keyB := rapid.SampledFrom(b.userKeys).Draw(rt, "foreign key")
		keyMissing := "LTAI" + randomString(rt, lowerAlnum, 20, "missing key")
		for _, action := range []string{"UpdateAccessKey", "DeleteAccessKey"} {
			q := func(k string) url.Values {
				return url.Values{"UserName": {a.users[0]}, "UserAccessKeyId": {k}, "Status": {"Inactive"}}
			}
			f := w.call(cred, rpc, action, "POST", "/", q(keyB), nil)
			m := w.call(cred, rpc, action, "POST", "/", q(keyMissing), nil)
			w.sameAnswer(action+" of a foreign key", f, m, [2]string{keyB, keyMissing})
		}
		for _, pol := range b.policies {
			if slices.Contains(a.policies, pol) {
				continue
			}
			missing := "zz-" + randomString(rt, lowerAlnum, 8, "missing policy")
			doc := `{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
			for _, c := range []struct {
				action string
				q      func(p string) url.Values
			}{
				{"GetPolicy", func(p string) url.Values { return url.Values{"PolicyName": {p}, "PolicyType": {"Custom"}} }},
				{"DeletePolicy", func(p string) url.Values { return url.Values{"PolicyName": {p}} }},
				{"CreatePolicyVersion", func(p string) url.Values {
					return url.Values{"PolicyName": {p}, "PolicyDocument": {doc}, "SetAsDefault": {"true"}}
				}},
				{"AttachPolicyToUser", func(p string) url.Values {
					return url.Values{"PolicyName": {p}, "PolicyType": {"Custom"}, "UserName": {a.users[0]}}
				}},
			} {
				f := w.call(cred, rpc, c.action, "POST", "/", c.q(pol), nil)
				m := w.call(cred, rpc, c.action, "POST", "/", c.q(missing), nil)
				w.sameAnswer(c.action+" on a foreign policy", f, m, [2]string{pol, missing})
			}
		}

		// Lists show the attacker's own objects only.
		lw := w.call(cred, roa, "ListWorkspaces", "GET", "/api/v1/workspaces", url.Values{"maxResults": {"100"}}, nil)
		var gotWS []string
		for _, x := range lw.Body["workspaces"].([]any) {
			gotWS = append(gotWS, x.(map[string]any)["workspaceId"].(string))
		}
		wantWS := append([]string(nil), a.workspaces...)
		slices.Sort(gotWS)
		slices.Sort(wantWS)
		if !slices.Equal(gotWS, wantWS) {
			rt.Fatalf("ListWorkspaces shows %v, want the account's own %v", gotWS, wantWS)
		}
		lu := w.call(cred, rpc, "ListUsers", "POST", "/", nil, nil)
		var gotUsers []string
		for _, x := range lu.Body["Users"].(map[string]any)["User"].([]any) {
			gotUsers = append(gotUsers, x.(map[string]any)["UserName"].(string))
		}
		slices.Sort(gotUsers)
		wantUsers := append([]string(nil), ownUsers...)
		slices.Sort(wantUsers)
		if !slices.Equal(gotUsers, wantUsers) {
			rt.Fatalf("ListUsers shows %v, want the account's own %v", gotUsers, wantUsers)
		}
		lp := w.call(cred, rpc, "ListPolicies", "POST", "/", url.Values{"PolicyType": {"Custom"}}, nil)
		var gotPols []string
		for _, x := range lp.Body["Policies"].(map[string]any)["Policy"].([]any) {
			gotPols = append(gotPols, x.(map[string]any)["PolicyName"].(string))
		}
		slices.Sort(gotPols)
		wantPols := append([]string(nil), a.policies...)
		slices.Sort(wantPols)
		if !slices.Equal(gotPols, wantPols) {
			rt.Fatalf("ListPolicies shows %v, want the account's own %v", gotPols, wantPols)
		}
		for _, ws := range a.workspaces {
			lc := w.call(cred, roa, "ListRayCluster", "GET", wsPath(ws, "rayCluster"), url.Values{"pageSize": {"100"}}, nil)
			var got []string
			for _, x := range lc.Body["rayClusters"].([]any) {
				got = append(got, x.(map[string]any)["clusterId"].(string))
			}
			slices.Sort(got)
			want := append([]string(nil), a.clusters[ws]...)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				rt.Fatalf("ListRayCluster of %s shows %v, want %v", ws, got, want)
			}
			lj := w.call(cred, roa, "ListRayJob", "GET", wsPath(ws, "rayJob"), url.Values{"pageSize": {"100"}}, nil)
			got = nil
			for _, x := range lj.Body["rayJobs"].([]any) {
				got = append(got, x.(map[string]any)["submissionId"].(string))
			}
			slices.Sort(got)
			want = append([]string(nil), a.jobs[ws]...)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				rt.Fatalf("ListRayJob of %s shows %v, want %v", ws, got, want)
			}
		}

		// The audit log holds the attacker's own calls only: every refused
		// or attempted change above, by the attacker's users.
		au := w.call(cred, roa, "ListAuditEvents", "GET", "/api/v1/auditEvents", url.Values{"maxResults": {"1000"}}, nil)
		events, _ := au.Body["events"].([]any)
		if len(events) == 0 {
			rt.Fatalf("the audit log of %s is empty after its refused calls: %+v", a.id, au)
		}
		for _, x := range events {
			if u := x.(map[string]any)["userName"].(string); !slices.Contains(ownUsers, u) {
				rt.Fatalf("the audit log of %s shows a call by %q, not one of its users", a.id, u)
			}
		}

		// Nothing of any other account changed.
		for _, tn := range victims {
			if after := w.snapshot(tn); after != before[tn.id] {
				rt.Fatalf("account %s changed under calls of account %s:\nbefore %s\nafter  %s", tn.id, a.id, before[tn.id], after)
			}
		}
	})
}
