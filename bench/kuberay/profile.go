package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/rayfleet/rayfleet/internal/app"
)

// serveRayfleet is the -serve-rayfleet mode: `rayfleet server` with the
// given flags, in this process, under a CPU profile written to path when
// the server stops (SIGTERM).
func serveRayfleet(args []string) error {
	if len(args) < 1 {
		return errors.New("usage: -serve-rayfleet <cpuprofile> [server flags]")
	}
	f, err := os.Create(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code := app.RunServer(ctx, args[1:], os.Getenv, os.Stdout, os.Stderr); code != 0 {
		return fmt.Errorf("rayfleet server exited with code %d", code)
	}
	return nil
}
