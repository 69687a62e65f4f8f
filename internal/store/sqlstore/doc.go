// Package sqlstore is rayfleet's storage: one implementation of store.Store
// over database/sql that speaks two dialects, SQLite (modernc.org/sqlite, pure
// Go, the embedded default) and PostgreSQL (github.com/jackc/pgx/v5, for
// several replicas). The schema lives in embedded, numbered migrations that
// run when a store is opened. Lookups and filters use real columns; a
// cluster's spec and instances are JSON text, so growing those types needs no
// migration, while a new top-level field of a domain type needs one.
//
// It may import the standard library, the domain (rayfleet), the contract
// (internal/store) and the two database drivers; nothing else of rayfleet
// imports it except the composition root and tests.
package sqlstore
