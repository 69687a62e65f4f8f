package local

import (
	"encoding/json"
	"net"
	"os"
	"strconv"

	"github.com/rayfleet/rayfleet"
)

// DiskHeads answers HeadEndpoints from the state files of the Runtime that
// runs on DataDir, without adopting, watching or changing anything. It is
// for a gateway that runs as its own process next to the server whose
// runtime starts the nodes: two Runtimes on one data directory would both
// adopt and reap the same processes.
//
// It reads the current instance's head record on every call (one small
// file, replaced atomically by the runtime). It trusts what the record
// says: a head that died while no server watched it still looks running
// until a server starts again, and the gateway's connection to it is then
// refused.
type DiskHeads struct {
	DataDir string
	// Host is the address the Ray client server is reached on, as the
	// serving Runtime's Config.Host ("" = 127.0.0.1).
	Host string
}

// HeadEndpoints returns host:port of the dashboard and of the Ray client
// server of c's current head; ok is false while the instance has no
// running head.
func (d DiskHeads) HeadEndpoints(c *rayfleet.Cluster) (dashboard, client string, ok bool) {
	rec, ok := d.head(c)
	if !ok {
		return "", "", false
	}
	host := d.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return dashboardAddr(&rec), net.JoinHostPort(host, strconv.Itoa(rec.Ports.ClientServer)), true
}

// HeadToken returns Ray's token of c's current instance, as Runtime.HeadToken.
func (d DiskHeads) HeadToken(c *rayfleet.Cluster) string {
	rec, _ := d.head(c)
	return rec.AuthToken
}

func (d DiskHeads) head(c *rayfleet.Cluster) (record, bool) {
	if !safeName(c.ID) || !safeName(c.InstanceID) {
		return record{}, false
	}
	files := layout{root: d.DataDir + "/local"}
	head := &record{Cluster: c.ID, Instance: c.InstanceID, Node: headNodeName(c.ID)}
	b, err := os.ReadFile(files.statePath(head))
	if err != nil {
		return record{}, false
	}
	var rec record
	if json.Unmarshal(b, &rec) != nil || rec.Format > recordFormat ||
		rec.Cluster != c.ID || rec.Instance != c.InstanceID || rec.Type != typeHead {
		return record{}, false
	}
	if !rec.running() || rec.Ports.Dashboard == 0 || rec.Ports.ClientServer == 0 {
		return record{}, false
	}
	return rec, true
}
