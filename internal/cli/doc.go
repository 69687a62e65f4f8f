// Package cli is the rayfleet command line: `rayfleet <noun> <verb>` over the
// API, for clusters, workspaces, queues, release versions, network services and
// the local profiles that hold endpoint and access key. The `server` command
// lives elsewhere and is plugged in through Run's extra commands, so this
// package never pulls the server into its imports.
//
// Every call goes through api.Client, which signs with api/signer, so the CLI
// exercises exactly the client code third-party tools use. The package imports
// api, api/signer (for its Credentials type; tests verify signatures with it)
// and cobra, and internal/rayjob, the client of Ray's own job REST API, for
// what `rayfleet job` sends to a cluster's head through the gateway as Ray's
// job CLI does (a working directory's upload, driver logs). It imports no
// other internal package: it knows the server only through the wire, as any
// client does.
//
// Run takes an Env (args, environment, stdio) rather than touching os.*
// directly, so tests run whole commands in-process.
//
// Output: tables for people by default; -o json prints the server's response
// body, indented but otherwise as sent (requestId included), for scripts.
//
// Errors are one line on stderr, "error: <Code>: <Message> (request id <id>)"
// for API errors, "error: <message>" otherwise, and the exit code says what
// kind of failure it was:
//
//	0  success
//	1  unexpected error: network, server (5xx), local I/O
//	2  usage error: bad command, flag or argument, missing credentials or workspace
//	3  the API refused the request (4xx other than not found)
//	4  not found: ResourceNotFound or another 404, or an unknown local profile
//	5  a job followed with --wait ended otherwise than wanted
package cli
