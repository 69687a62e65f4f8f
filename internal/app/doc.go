// Package app is rayfleet's composition root: it reads the configuration,
// opens the store, wires the service, the HTTP API and (later) the
// reconciler, runtimes and gateway, and runs them until the context ends.
// It is the only package that knows every adapter.
package app
