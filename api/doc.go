// Package api holds the wire types of rayfleet's API — the ROA API of the
// hosted EMR Serverless Spark Ray feature, field for field — and a small Go
// client that signs with api/signer. It imports no internal package, so tools
// outside this module can use it.
package api
