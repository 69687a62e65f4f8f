// Package api holds the wire types of rayfleet's API — the ROA API of the
// hosted EMR Serverless Spark Ray feature, field for field (types.go), and
// the RPC-style admin API of RAM and STS that the same server serves on "/"
// (ram.go) — and a small Go client that signs with api/signer. It imports no internal package, so tools
// outside this module can use it.
package api
