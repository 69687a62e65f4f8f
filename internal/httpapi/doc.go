// Package httpapi serves rayfleet's ROA API over HTTP: routes.go lists every
// operation; handlers decode, call internal/service and return (any, error);
// one wrapper authenticates the signature, writes the JSON answer or the
// error body, and records metrics and logs with the request id. It imports
// the domain, api (wire types), api/signer and internal/service.
package httpapi
