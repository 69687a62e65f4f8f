// Package benchreport holds what the results files of the benchmark
// programs under bench/ say alike: the tree and machine a run measured,
// latencies and goals met. It imports no rayfleet package.
package benchreport

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Dur shows a latency in milliseconds to the microsecond.
func Dur(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

// YesNo says whether a goal is met, a miss in bold.
func YesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// GitState describes the tree in root that the run measured: the commit it
// sits on and whether it holds uncommitted changes.
func GitState(root string) string {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	status, serr := exec.Command("git", "-C", root, "status", "--porcelain").Output()
	dirty := ""
	if serr == nil && len(strings.TrimSpace(string(status))) > 0 {
		dirty = fmt.Sprintf("uncommitted tree (%d changed or untracked paths)", strings.Count(strings.TrimSpace(string(status)), "\n")+1)
	}
	switch {
	case err != nil && dirty != "":
		return dirty + "; the repository has no commit yet"
	case err != nil:
		return "unknown (git rev-parse HEAD failed: the repository may have no commit yet)"
	case dirty != "":
		return dirty + " on top of " + strings.TrimSpace(string(head))
	default:
		return "clean at " + strings.TrimSpace(string(head))
	}
}

// Machine describes the CPU, the cores this process may use, the kernel
// and the Go version.
func Machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(data))
	}
	return fmt.Sprintf("%s, %d CPUs%s, %s", model, runtime.NumCPU(), kernel, runtime.Version())
}
