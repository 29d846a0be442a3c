// Package keys is Penny's API keys: who a caller is (a tenant, cost-allocation
// tags) and the limits that apply to them. It holds the domain types, the
// Store interface the storage packages implement (internal/sqlite), and
// the making and hashing of the secrets a key is used with.
//
// # What a key is
//
// `penny keys create` issues one key and prints its secrets once:
//
//   - a bearer token, "pk-" followed by 43 base64url characters (32 random
//     bytes), for OpenAI clients (Authorization: Bearer, or x-api-key);
//   - an access key id, "PNY" followed by 17 base32 characters (20 in all,
//     like AWS's "AKIA…"), and a secret access key of 40 base64 characters
//     (30 random bytes), for AWS SDK clients, which sign their requests with
//     SigV4.
//
// The access key id is also the key's ID: it is not secret (AWS treats access
// key ids the same way), it appears in `penny keys list`, in `penny keys
// revoke ID` and in every ledger record the key makes.
//
// # What is stored, and the threat model
//
// Bearer tokens are stored as their SHA-256 hash only. The token carries 256
// random bits, so the hash cannot be reversed or brute-forced, and a pepper
// (HMAC with a server secret) would add nothing but a second secret to lose:
// anyone who reads the database learns no bearer token.
//
// SigV4 cannot work that way. To verify a signature Penny must compute the
// same HMAC chain the client computed, which starts from "AWS4"+secret; any
// value Penny could verify with (the secret, or the derived kSecret, or a
// per-day signing key derived from it) lets its holder sign requests just as
// well, so hashing it would be theatre. Penny therefore keeps the secret
// access key itself, in one of two forms:
//
//   - sealed, when a server key secret is configured (PENNY_KEYS_SECRET, see
//     NewSealer): AES-256-GCM under a key derived from that secret with HKDF,
//     bound to the key's access key id. A copy of the database alone (a
//     backup, a stolen file, someone with read access for `penny report`)
//     then yields no usable SigV4 secret; the database plus the server secret
//     does. Every process that creates keys or serves requests needs the same
//     server secret, and losing it makes the sealed SigV4 secrets unusable
//     (bearer tokens keep working; reissue the keys).
//   - in plain text, when no server secret is configured. Then whoever can
//     read the database can sign Converse requests as any key that has not
//     been revoked, and must be trusted like the server itself. SQLite
//     creates the file readable by everyone the umask allows (0644 less the
//     umask); restrict it (chmod 600), and `penny keys create` warns when it
//     is readable by others.
//
// Neither form protects against someone who controls the running server:
// it holds the plaintext secrets in memory to verify signatures.
//
// SigV4 itself does not stop replays: a request captured in transit can be
// sent again, unchanged, for as long as its X-Amz-Date is within the allowed
// clock skew (15 minutes), exactly as with AWS. Use TLS between clients and
// Penny wherever the network is not trusted; bearer tokens need it anyway.
package keys
