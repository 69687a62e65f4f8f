package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rayfleet/rayfleet"
)

// The upstream: this program run as the `ray` executable of rayfleet's
// local runtime (through wrapper scripts, see writeRayWrapper). For
// `ray start --head ...` it serves the benchmark's responses on the
// dashboard port the runtime chose, holds the GCS and Ray client ports
// open, and writes the dashboard address to addrFile, so that the same
// server is reached directly, through nginx and through the gateway.
//
// Before a start the runtime asks the interpreter on the `ray` script's
// "#!" line which Ray and Python it runs, and after it the head's
// /api/version, and both must be the cluster's release: the wrapper's
// interpreter is this program too (-as-python), which answers for
// benchRelease, and /api/version reports its Ray.

// benchRelease is the release of the benchmark's cluster: the catalog's
// first, the default of CreateRayCluster.
var benchRelease = rayfleet.BuiltinReleaseVersions()[0]

// writeRayWrapper writes dir/ray, the executable the runtime is given, and
// dir/python, its interpreter: both run this program.
func writeRayWrapper(dir, addrFile string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	python, ray := filepath.Join(dir, "python"), filepath.Join(dir, "ray")
	// Linux runs a "#!" interpreter that is itself a script; the kernel
	// hands it the ray script's path first, which -as-python drops.
	shim := "#!/bin/sh\nexec " + shellQuote(self) + " -as-python " + shellQuote(addrFile) + " \"$@\"\n"
	if err := os.WriteFile(python, []byte(shim), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(ray, []byte("#!"+python+"\n"), 0o755); err != nil {
		return "", err
	}
	return ray, nil
}

// runAsPython is main for the wrapper's interpreter: `-c <program>` is the
// runtime's question for the versions; anything else is the ray script's
// path followed by its arguments.
func runAsPython(addrFile string, args []string) int {
	if len(args) > 0 && args[0] == "-c" {
		fmt.Println(benchRelease.RayVersion)
		fmt.Println(benchRelease.PythonVersion + ".0")
		return 0
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "bench upstream: no script to run")
		return 2
	}
	return runAsRay(addrFile, args[1:])
}

// upstreamBody returns the body served at path; small is /api/version's
// size, large is a dashboard asset's.
func upstreamBody(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

const (
	smallPath = "/api/version"
	largePath = "/static/bench-16k.js"
	largeSize = 16 << 10
)

// smallBody is /api/version's answer, the size of Ray's.
var smallBody = []byte(`{"version":"bench","ray_version":"` + benchRelease.RayVersion + `","ray_commit":"bench"}`)

// runAsRay is main for `<wrapper> start --head ...` and `<wrapper> --version`.
func runAsRay(addrFile string, args []string) int {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println("ray, version " + benchRelease.RayVersion + " (bench upstream)")
		return 0
	}
	if len(args) == 0 || args[0] != "start" {
		fmt.Fprintln(os.Stderr, "bench upstream: only `ray start --head ...` is supported")
		return 2
	}
	flags := parseRayFlags(args[1:])
	if _, head := flags["head"]; !head {
		fmt.Fprintln(os.Stderr, "bench upstream: only head nodes (the benchmark's cluster has no workers)")
		return 2
	}
	for _, name := range []string{"port", "ray-client-server-port"} {
		if p := flags[name]; p != "" {
			l, err := net.Listen("tcp", "127.0.0.1:"+p)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench upstream:", err)
				return 1
			}
			go hold(l)
		}
	}
	host := flags["dashboard-host"]
	if host == "" {
		host = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, flags["dashboard-port"]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench upstream:", err)
		return 1
	}
	large := upstreamBody(largeSize)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+smallPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(smallBody)))
		_, _ = w.Write(smallBody)
	})
	mux.HandleFunc("GET "+largePath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Header().Set("Content-Length", strconv.Itoa(len(large)))
		_, _ = w.Write(large)
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	if err := os.WriteFile(addrFile+".tmp", []byte(l.Addr().String()+" "+strconv.Itoa(os.Getpid())), 0o600); err == nil {
		_ = os.Rename(addrFile+".tmp", addrFile)
	}
	fmt.Println("Ray runtime started.")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	return 0
}

// parseRayFlags reads --flag=value, --flag value and bare --flag.
func parseRayFlags(args []string) map[string]string {
	bools := map[string]bool{"head": true, "block": true, "disable-usage-stats": true}
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, value, ok := strings.Cut(strings.TrimPrefix(args[i], "--"), "=")
		if !ok && !bools[name] && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			i++
			value = args[i]
		}
		out[name] = value
	}
	return out
}

func hold(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}
