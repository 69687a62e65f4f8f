package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ShutdownGrace is how long in-flight requests get to finish on SIGTERM.
const ShutdownGrace = 30 * time.Second

// RunServer is `rayfleet server`: it starts the server and serves until ctx
// ends (the signal handler in main cancels it), then shuts down gracefully.
// It returns the process exit code.
func RunServer(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := LoadConfig(args, getenv)
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(stderr, u.Error())
			return 2
		}
		fmt.Fprintf(stderr, "rayfleet server: %v\n", err)
		return 2
	}
	srv, err := Start(ctx, cfg, getenv, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rayfleet server: %v\n", err)
		return 1
	}
	select {
	case <-ctx.Done():
	case <-srv.done:
	case <-srv.failed:
	}
	srv.Logger.Info("shutting down: finishing in-flight requests", "grace", ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Logger.Error("shutdown", "err", err.Error())
		return 1
	}
	srv.Logger.Info("stopped")
	return 0
}
