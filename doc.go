// Package rayfleet holds the domain of rayfleet: accounts, users, access keys,
// workspaces, queues, network services, release versions, Ray clusters and
// the jobs run on them, the rules that keep them valid, and the one error
// type every layer speaks.
//
// It imports only the standard library. Adapters (storage, HTTP, runtimes, the
// CLI) live around it and import it; it never imports them.
package rayfleet
