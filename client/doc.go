// Package client is the Go SDK for Latchkey: a management client for the
// HTTP API (self-service keys, tenants, users, the verify API and whoami)
// and a net/http middleware that authenticates every request to your API
// through Latchkey.
//
// It imports only the standard library, so depending on it adds nothing
// else to your module graph.
//
// Secrets: full keys appear only in the Key returned by CreateKey and
// RotateKey. Nothing in this package logs, and no error it returns carries a
// key, a root key or a password; a Key or *Key logged through log/slog
// shows its secret masked. slog does not look inside slices, maps or
// structs holding keys (a Page of them, say): log IDs, not those.
//
// Every call answered with an error status returns an *Error holding
// Latchkey's status, code, message and trace ID; failures on this side of
// the wire (connection refused, timeouts, a cancelled context) are returned
// as ordinary wrapped errors.
package client
