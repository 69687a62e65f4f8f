// Package storetest is the conformance suite of the store contract: Run
// checks a store.Store backend against everything the contract promises
// (CRUD of each object kind, not-found and already-exists errors, optimistic
// concurrency, list order and paging, account isolation, time and JSON
// round-trips), and every backend's tests call it. It also holds the fixture
// builders the suite uses, which return valid objects to tweak and which
// other packages' tests may use too.
//
// It may import the standard library (testing included), the domain
// (rayfleet) and the contract (internal/store), and never a backend: the
// backends' tests import it.
package storetest
