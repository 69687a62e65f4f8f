// Command rayfleet runs the rayfleet server and is its command line client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/rayfleet/rayfleet/internal/app"
	"github.com/rayfleet/rayfleet/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := cli.Env{
		Args: os.Args[1:], Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		IsTerminal: term.IsTerminal(int(os.Stdout.Fd())),
	}
	code := cli.Run(ctx, env, []cli.Command{{
		Name:    "server",
		Summary: "Run the rayfleet server (API on 127.0.0.1:8080, data in ./rayfleet-data)",
		Run: func(ctx context.Context, env cli.Env, args []string) int {
			return app.RunServer(ctx, args, env.Getenv, env.Stdout, env.Stderr)
		},
	}, {
		Name:    "gateway",
		Summary: "Run the gateway alone (dashboards, job API, Ray client) for a server's clusters",
		Run: func(ctx context.Context, env cli.Env, args []string) int {
			return app.RunGateway(ctx, args, env.Getenv, env.Stdout, env.Stderr)
		},
	}})
	stop()
	os.Exit(code)
}
