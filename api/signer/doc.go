// Package signer signs and verifies requests to the Alibaba Cloud ROA API the
// way the official clients do: ACS3-HMAC-SHA256 ("V3"), which the darabonba
// Go and Node clients send, the legacy ROA HMAC-SHA1 scheme of the aliyun
// CLI and the classic SDKs, and the legacy RPC HMAC-SHA1 scheme (the
// Signature parameter) those use for RPC-style APIs such as RAM's.
// Canonicalisation follows the clients byte for byte, so a server built on
// Parse and Signed.Verify accepts unmodified official clients, and
// SignACS3/SignROA/SignRPC produce requests the hosted service accepts.
//
// The signing and verifying functions are pure: the clock and the nonce are
// arguments, and replay detection is left to the caller, who owns the nonce
// cache. The package imports only the standard library.
package signer
