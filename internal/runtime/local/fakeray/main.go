// Command fakeray stands in for Ray's `ray` executable in the local
// runtime's tests, where real Ray cannot be installed. It takes the
// `ray start` command lines the runtime builds (any other flag is accepted
// and ignored) and opens what a Ray node opens that the runtime looks at:
//
//   - as head (--head): the GCS port (--port), accepting and holding TCP
//     connections; the dashboard (--dashboard-host, --dashboard-port) with
//     GET /api/version and GET /api/jobs/; the Ray client server port
//     (--ray-client-server-port);
//   - as worker (--address): a connection to the GCS, or exit 1 if none
//     can be made within FAKERAY_CONNECT_TIMEOUT (default 5s).
//
// It prints its arguments and environment (one JSON line each) so tests
// can check them, prints "Ray runtime started." once up, prints
// "fakeray: dashboard request <method> <path>" for each dashboard request
// (so tests see what reached the head), and exits 0 on
// SIGTERM. Environment knobs: FAKERAY_EXIT_AFTER=<duration> exits with
// code 3 after that long (a crash); FAKERAY_HEAD_DELAY=<duration> delays
// the head's dashboard (a slow start); FAKERAY_IGNORE_TERM=1 ignores
// SIGTERM (a node that must be killed).
//
// `ray --version` prints "ray, version 2.47.1 (fake)".
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// boolFlags take no value.
var boolFlags = map[string]bool{
	"head": true, "block": true, "disable-usage-stats": true, "verbose": true,
	"no-monitor": true, "ray-debugger-external": true, "no-redirect-output": true,
	"enable-object-reconstruction": true, "enable-resource-isolation": true,
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println("ray, version 2.47.1 (fake)")
		return 0
	}
	if len(args) == 0 || args[0] != "start" {
		fmt.Fprintln(os.Stderr, "fakeray: only `ray start ...` and `ray --version` are supported")
		return 2
	}
	flags, err := parse(args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeray:", err)
		return 2
	}
	a, _ := json.Marshal(args)
	fmt.Println("fakeray: args " + string(a))
	e, _ := json.Marshal(os.Environ())
	fmt.Println("fakeray: env " + string(e))

	sigs := make(chan os.Signal, 1)
	if os.Getenv("FAKERAY_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	}
	var crash <-chan time.Time
	if d, ok := duration("FAKERAY_EXIT_AFTER"); ok {
		crash = time.After(d)
	}

	if _, head := flags["head"]; head {
		if err := startHead(flags); err != nil {
			fmt.Fprintln(os.Stderr, "fakeray:", err)
			return 1
		}
	} else {
		if err := startWorker(flags); err != nil {
			fmt.Fprintln(os.Stderr, "fakeray:", err)
			return 1
		}
	}
	fmt.Println("Ray runtime started.")

	select {
	case s := <-sigs:
		fmt.Printf("fakeray: received %s, stopping\n", s)
		return 0
	case <-crash:
		fmt.Fprintln(os.Stderr, "fakeray: simulated crash (FAKERAY_EXIT_AFTER)")
		return 3
	}
}

// parse reads --flag=value, --flag value and --flag (for boolean flags, or
// when no value follows). The last value of a flag wins, as in click.
func parse(args []string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		if !hasValue && !boolFlags[name] && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			i++
			value = args[i]
		}
		out[name] = value
	}
	return out, nil
}

func duration(env string) (time.Duration, bool) {
	d, err := time.ParseDuration(os.Getenv(env))
	return d, err == nil
}

// hold accepts connections on l and keeps them open until the peer closes.
func hold(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

func startHead(flags map[string]string) error {
	gcs, err := net.Listen("tcp", ":"+flags["port"])
	if err != nil {
		return fmt.Errorf("GCS port: %w", err)
	}
	go hold(gcs)
	if p := flags["ray-client-server-port"]; p != "" {
		l, err := net.Listen("tcp", ":"+p)
		if err != nil {
			return fmt.Errorf("ray client server port: %w", err)
		}
		go hold(l)
	}
	host := flags["dashboard-host"]
	if host == "" {
		host = "127.0.0.1"
	}
	port := flags["dashboard-port"]
	if port == "" {
		port = "8265"
	}
	mux := http.NewServeMux()
	// Token authentication as Ray 2.52+ does it with RAY_AUTH_MODE=token:
	// "Authorization: Bearer <RAY_AUTH_TOKEN>" or 401/403.
	authed := func(w http.ResponseWriter, r *http.Request) bool {
		if os.Getenv("RAY_AUTH_MODE") != "token" {
			return true
		}
		switch r.Header.Get("Authorization") {
		case "":
			http.Error(w, "Unauthorized: Missing authentication token", http.StatusUnauthorized)
			return false
		case "Bearer " + os.Getenv("RAY_AUTH_TOKEN"):
			return true
		default:
			http.Error(w, "Forbidden: Invalid authentication token", http.StatusForbidden)
			return false
		}
	}
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("fakeray: dashboard request %s %s\n", r.Method, r.URL.Path) // tests count what reached the head
		if !authed(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version":"fake","ray_version":"2.60.0","ray_commit":"fake"}`)
	})
	mux.HandleFunc("GET /api/jobs/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("fakeray: dashboard request %s %s\n", r.Method, r.URL.Path)
		if !authed(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[]`)
	})
	serve := func() error {
		l, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			return fmt.Errorf("dashboard port: %w", err)
		}
		go func() { _ = http.Serve(l, mux) }()
		fmt.Printf("fakeray: dashboard on http://%s\n", l.Addr())
		return nil
	}
	if d, ok := duration("FAKERAY_HEAD_DELAY"); ok {
		go func() {
			time.Sleep(d)
			if err := serve(); err != nil {
				fmt.Fprintln(os.Stderr, "fakeray:", err)
				os.Exit(1)
			}
		}()
		return nil
	}
	return serve()
}

func startWorker(flags map[string]string) error {
	addr := flags["address"]
	if addr == "" {
		return fmt.Errorf("--address is required without --head")
	}
	wait := 5 * time.Second
	if d, ok := duration("FAKERAY_CONNECT_TIMEOUT"); ok {
		wait = d
	}
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			go func() {
				// Held for the life of the process, like a raylet's GCS
				// connection.
				buf := make([]byte, 1)
				_, _ = c.Read(buf)
			}()
			fmt.Printf("fakeray: connected to the GCS at %s\n", addr)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("could not connect to the GCS at %s within %s: %w", addr, wait, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
