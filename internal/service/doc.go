// Package service implements rayfleet's API actions, one method per
// operation: given the caller (a rayfleet.Principal) it authorizes, validates,
// reads and writes the store, wakes whoever reconciles clusters and tells a
// gateway of revoked cluster tokens. It knows nothing of HTTP or of any
// runtime; it declares the small interfaces it needs (Sealer, Waker, Revoker,
// LogStore)
// and imports only the domain, internal/store, internal/authz and
// internal/keylock.
package service
