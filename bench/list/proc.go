package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// rayfleetAddr finds the API address in rayfleet's JSON log line
// "rayfleet API listening".
func rayfleetAddr(line string) string {
	if !strings.Contains(line, "rayfleet API listening") {
		return ""
	}
	var v struct {
		Addr string `json:"addr"`
	}
	if json.Unmarshal([]byte(line), &v) != nil {
		return ""
	}
	return v.Addr
}

// ceilingAddr finds the address in the ceiling's "listening <addr>" line.
func ceilingAddr(line string) string {
	a, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(a)
}

// serverCmd builds the command that runs a rayfleet server on dataDir:
// the real binary, or (to take CPU/heap profiles of the same code) this
// program in its -serve-rayfleet mode.
func serverCmd(bin, self, cpuProfile, memProfile, dataDir, home string) *exec.Cmd {
	// The API role alone, as an API replica runs: the seeded clusters claim
	// states (Running, Starting...) that no node on this machine backs, and
	// a reconciler in the same process would spend the run "repairing" tens
	// of thousands of them, which is not what this benchmark measures.
	args := []string{"server", "--data-dir", dataDir, "--api-addr", "127.0.0.1:0", "--roles", "api"}
	var cmd *exec.Cmd
	if cpuProfile != "" || memProfile != "" {
		cmd = exec.Command(self, append([]string{"-serve-rayfleet", cpuProfile, memProfile}, args[1:]...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	// The first start writes a CLI profile; keep it out of the user's home.
	cmd.Env = append(os.Environ(), "RAYFLEET_CONFIG="+filepath.Join(home, "cli-config.json"), "HOME="+home)
	return cmd
}

// waitReady polls /readyz until the server answers 200.
func waitReady(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s not ready after 30s (last: %w)", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// memStatus is a process's resident memory from /proc/<pid>/status, in
// KiB: current and peak, and the current split into anonymous memory (Go
// heap, SQLite's page caches) and file-backed pages (binary, mapped files).
type memStatus struct {
	RSS, HWM, Anon, File int64
}

func readMem(pid int) (memStatus, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memStatus{}, err
	}
	var m memStatus
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = n
		case "VmHWM":
			m.HWM = n
		case "RssAnon":
			m.Anon = n
		case "RssFile":
			m.File = n
		}
	}
	if m.RSS == 0 {
		return m, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
	}
	return m, nil
}

// dbSize sums the sizes of the database files (the main file, its WAL and
// shared-memory index) in dir.
func dbSize(dir string) (int64, error) {
	var total int64
	for _, n := range []string{"rayfleet.db", "rayfleet.db-wal", "rayfleet.db-shm"} {
		st, err := os.Stat(filepath.Join(dir, n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += st.Size()
	}
	return total, nil
}
