package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// privatePostgres is a PostgreSQL server of the test's own, on a free
// loopback port, that the test may restart without disturbing anything
// else using the shared test database.
type privatePostgres struct {
	t    *testing.T
	dir  string
	dsn  string
	user string // run the server's commands as this user ("" for ourselves)
}

const postgresBin = "/usr/lib/postgresql/15/bin"

// startPrivatePostgres initializes and starts a private server. It skips
// the test where PostgreSQL 15 is not installed, unless the run has the
// shared test database (RAYFLEET_TEST_POSTGRES), which means it is.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(postgresBin, "initdb")); err != nil {
		if os.Getenv("RAYFLEET_TEST_POSTGRES") != "" {
			t.Fatalf("PostgreSQL 15 is not installed: %v", err)
		}
		t.Skipf("PostgreSQL 15 is not installed: %v", err)
	}
	// PostgreSQL refuses to run as root: as root, its files and commands
	// belong to the postgres user, so the directory is outside the test's
	// own (root-only) temporary root.
	p := &privatePostgres{t: t}
	if os.Geteuid() == 0 {
		p.user = "postgres"
	}
	dir, err := os.MkdirTemp("/tmp", "rfpg")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if p.user != "" {
		u, err := user.Lookup(p.user)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	data := filepath.Join(dir, "data")
	p.run("initdb", "-D", data, "-A", "trust", "-U", "rayfleet", "--no-sync")
	p.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o",
		fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off", port, dir), "start")
	t.Cleanup(func() { p.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop") })
	p.dsn = fmt.Sprintf("postgres://rayfleet@127.0.0.1:%d/postgres?sslmode=disable", port)
	return p
}

// restart restarts the server (fast shutdown: every session ends).
func (p *privatePostgres) restart() {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "log"), "-m", "fast", "-w", "restart")
}

func (p *privatePostgres) run(name string, args ...string) {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(postgresBin, name), args...)
	if p.user != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.user, "--", filepath.Join(postgresBin, name)}, args...)...)
	}
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		p.t.Fatalf("%s: %v\n%s\nserver log:\n%s", name, err, out, log)
	}
}

// TestStandbyOutlivesPostgresRestart: a PostgreSQL restart ends every
// session. The standby reconnects and stands by again (here it takes the
// lease over); the process that held the lease stops, so that its
// supervisor restarts it as a standby.
func TestStandbyOutlivesPostgresRestart(t *testing.T) {
	pg := startPrivatePostgres(t)
	old := leaseRetry
	leaseRetry.first, leaseRetry.max = 200*time.Millisecond, time.Second
	t.Cleanup(func() { leaseRetry = old })

	start := func(roles string, key []byte) *Server {
		t.Helper()
		cfg := testConfig(t.TempDir())
		cfg.Store, cfg.PostgresDSN, cfg.Roles = "postgres", pg.dsn, roles
		if key != nil {
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(cfg.DataDir, "master.key"), key, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		srv, err := Start(context.Background(), cfg, func(string) string { return "" }, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx) // the holder's error is checked below
		})
		return srv
	}
	a := start(DefaultConfig().Roles, nil)
	poll.Until(t, rayWait, "the first server to run the reconciler", a.reconciling.Load)
	key, err := os.ReadFile(filepath.Join(a.Config.DataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	b := start("reconciler", key)
	for since := time.Now(); time.Since(since) < time.Second; { // b tries the lease, and stands by
		if b.reconciling.Load() {
			t.Fatal("two servers run the reconciler on one database")
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}

	pg.restart()
	poll.Until(t, rayWait, "the holder to stop on losing its lease", func() bool {
		select {
		case <-a.failed:
			return true
		default:
			return false
		}
	})
	poll.Until(t, rayWait, "the standby to take over", func() bool {
		select {
		case <-b.failed:
			t.Fatalf("the standby stopped: %v", b.failErr)
		default:
		}
		return b.reconciling.Load()
	})
}
