package app

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
)

// TestKill9RetriedCreates kills the server with SIGKILL at random moments
// while a client creates clusters, each with a client token of its own, and
// retries every create whose answer it did not get, as a client should. A
// kill that falls between storing a cluster and recording its token would
// let the retry create a second cluster; after all the kills, every token
// has made exactly one.
func TestKill9RetriedCreates(t *testing.T) {
	const kills = 40
	// The API alone: no reconciler, so no nodes to start or clean up.
	srv, c, cred := startedServer(t, "--roles", "api")
	ctx := t.Context()
	ws := cred.WorkspaceID

	// The client: one token after another, each retried until answered. The
	// clusters are tiny so that thousands fit in the default quota.
	var mu sync.Mutex
	answered := map[string]string{} // token → the cluster id the answer named
	stop := make(chan struct{})
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			token := fmt.Sprintf("kill-%d", i)
			req := &api.ClusterRequest{Name: ptr(token), ClientToken: token, HeadSpec: &api.HeadSpec{CPU: "10m", Memory: "32Mi"}}
			for {
				resp, err := c.CreateCluster(ctx, ws, req)
				var apiErr *api.Error
				if errors.As(err, &apiErr) {
					failed <- fmt.Errorf("create %s: %w", token, err)
					return
				}
				if err == nil {
					mu.Lock()
					answered[token] = resp.ClusterID
					mu.Unlock()
					break
				}
				if ctx.Err() != nil {
					return
				}
				time.Sleep(5 * time.Millisecond) // the server is down: retry once it is back
			}
		}
	})

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 18))
	for range kills {
		// At a random moment of the creates that follow a start.
		time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		srv.kill9()
		srv.start()
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}

	// Every cluster there is, by name (the token that made it).
	byName := map[string][]string{}
	total := 0
	for page := 1; ; page++ {
		l, err := c.ListClusters(ctx, ws, api.ListClustersOptions{PageNum: page, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range l.RayClusters {
			byName[cl.Name] = append(byName[cl.Name], cl.ClusterID)
		}
		total = l.TotalCount
		if page*100 >= l.TotalCount {
			break
		}
	}
	t.Logf("%d kills, %d tokens answered, %d clusters", kills, len(answered), total)
	if len(answered) < kills/2 {
		t.Fatalf("only %d creates were answered in %d kills: the test did not exercise them", len(answered), kills)
	}
	dups := 0
	for name, ids := range byName {
		if len(ids) > 1 {
			dups++
			t.Errorf("token %s made %d clusters: %v", name, len(ids), ids)
		}
		switch want, ok := answered[name]; {
		case !ok:
			t.Errorf("clusters %v were made by token %s, which no answer named", ids, name)
		case len(ids) == 1 && ids[0] != want:
			t.Errorf("token %s made cluster %s, but its answer named %s", name, ids[0], want)
		}
	}
	if len(byName) != len(answered) || total != len(answered) {
		t.Errorf("%d tokens answered made %d clusters under %d names", len(answered), total, len(byName))
	}
	if dups > 0 {
		t.Fatalf("%d of %d tokens made more than one cluster", dups, len(answered))
	}
}
