// Package poll is how tests wait for what happens in its own time (a
// process, a goroutine, another server, a Kubernetes controller): they ask
// again until it holds or a deadline passes, and never sleep a fixed time
// instead. It imports only the standard library, so any package's tests
// may use it.
package poll
