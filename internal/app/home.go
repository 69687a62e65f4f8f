package app

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// homed is a runtime bound to one machine: its nodes can be seen and
// ended only by a reconciler that reads the records under dir.
type homed interface {
	Home() (id, dir string)
}

// homeClaimer is a store that records where such a runtime lives.
type homeClaimer interface {
	ClaimHome(ctx context.Context, runtime string, h sqlstore.Home, force bool) (sqlstore.HomeClaim, error)
}

// homeRetry is how often a reconciler refused the local runtime's home
// asks again (its holder may be back, or every cluster stopped).
var homeRetry = 5 * time.Second

// mayReconcile tells, once this process holds the reconciler lease,
// whether it may drive the runtime: a runtime bound to one machine (the
// local one) is reconciled only from its home, the data directory whose
// node records name its running nodes, while any cluster may still have
// nodes. Another server sharing the database would see no nodes and start
// every one a second time, leaving the first ones running. refused is why
// not, for the log.
func (s *Server) mayReconcile(ctx context.Context) (ok bool, refused string, err error) {
	h, isHomed := s.Runtime.(homed)
	hc, canClaim := s.Store.(homeClaimer)
	if !isHomed || !canClaim || s.Config.Store != "postgres" {
		// On SQLite the database itself lives in the data directory.
		return true, "", nil
	}
	id, dir := h.Home()
	host, _ := os.Hostname()
	claim, err := hc.ClaimHome(ctx, "local", sqlstore.Home{ID: id, Host: host, Dir: dir}, s.Config.LocalClaimHome)
	if err != nil {
		return false, "", err
	}
	if claim.Claimed {
		return true, "", nil
	}
	return false, fmt.Sprintf("the local runtime's nodes are run from %s on %s (since %s) and %d cluster(s) may still have nodes there: "+
		"this server does not reconcile, so that no node runs twice or is left behind. Start the server of that data directory again "+
		"(it adopts the running nodes), or stop those clusters, and this server takes over; if that machine and its nodes are gone for good, "+
		"start this server with --local-claim-home",
		claim.Home.Dir, claim.Home.Host, claim.Home.Since.UTC().Format(time.RFC3339), claim.Busy), nil
}
