package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet/internal/app"
)

// ceilingBodyFile names the captured rayfleet answer for one page size in
// the directory handed to the ceiling.
func ceilingBodyFile(dir string, pageSize int) string {
	return filepath.Join(dir, "pageSize-"+strconv.Itoa(pageSize)+".json")
}

// serveCeiling is the -serve-ceiling mode: a bare net/http server, in its
// own process like rayfleet, answering every request with the bytes
// rayfleet answered for the same page size. It does no signature check, no
// query and no encoding: it is the most any server could do on this
// machine through net/http, the yardstick rayfleet is measured against.
// Args: listen address, directory of pageSize-<n>.json files.
func serveCeiling(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: -serve-ceiling <addr> <dir of pageSize-N.json>")
	}
	bodies := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join(args[1], "pageSize-*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "pageSize-"), ".json")
		bodies[size] = b
	}
	if len(bodies) == 0 {
		return fmt.Errorf("no pageSize-N.json in %s", args[1])
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Query().Get("pageSize")]
		if !ok {
			http.Error(w, "no captured body for this pageSize", http.StatusNotFound)
			return
		}
		// The same headers rayfleet sets, so the client parses the same.
		hd := w.Header()
		hd.Set("Content-Type", "application/json;charset=utf-8")
		hd.Set("Content-Length", strconv.Itoa(len(b)))
		hd.Set("x-acs-request-id", "00000000-0000-4000-8000-000000000000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	})
	// The same timeouts as rayfleet's server, so connection handling matches.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Println("listening " + ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// serveRayfleet is the -serve-rayfleet mode: the rayfleet server run
// in-process by the same function `rayfleet server` calls, under a CPU
// profile and/or followed by a heap profile. It exists because the server
// itself exposes no pprof endpoint. Args: CPU profile path, heap profile
// path (either may be ""), then the server's flags.
func serveRayfleet(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: -serve-rayfleet <cpuprofile|\"\"> <memprofile|\"\"> [server flags]")
	}
	cpuPath, memPath := args[0], args[1]
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The heap is written when the stop signal arrives, before the server
	// shuts down, so it shows what the server held at the end of the load.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heapErr := make(chan error, 1)
	go func() {
		<-sig.Done()
		heapErr <- writeHeap(memPath)
		cancel()
	}()
	code := app.RunServer(ctx, args[2:], os.Getenv, os.Stdout, os.Stderr)
	stop() // a server that failed on its own: release the goroutine above
	if err := <-heapErr; err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("rayfleet server exited with code %d", code)
	}
	return nil
}

func writeHeap(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC() // up-to-date in-use figures
	return pprof.Lookup("heap").WriteTo(f, 0)
}
