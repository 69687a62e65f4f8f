// Package httpapi serves rayfleet's ROA API over HTTP: routes.go lists every
// operation (ram.go those of RAM and STS, RPC style on "/"); each resource's
// handlers have a file of their own (cluster.go, queue.go, user.go...); they
// decode, call internal/service and return (any, error); one wrapper
// authenticates the signature, writes the JSON answer or the error body, and
// records metrics and logs with the request id. It imports the domain, api
// (wire types), api/signer and internal/service.
package httpapi
