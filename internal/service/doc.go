// Package service implements rayfleet's API actions, one method per
// operation: given the caller (a rayfleet.Principal) it authorizes, validates,
// reads and writes the store, and wakes whoever reconciles clusters. It knows
// nothing of HTTP or of any runtime; it declares the small interfaces it needs
// (Sealer, Waker) and imports only the domain and internal/store.
package service
