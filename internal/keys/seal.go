package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// SecretEnv is the environment variable that holds the server key secret
// which seals SigV4 secrets at rest. Every Penny process that creates keys or
// serves requests against one database needs the same value.
const SecretEnv = "PENNY_KEYS_SECRET"

// MinServerSecret is the shortest server key secret NewSealer accepts.
const MinServerSecret = 16

// hkdfInfo names what the derived key is for, so that the same server secret
// could key other things without the keys being related.
const hkdfInfo = "penny keys: sigv4 secret sealing v1"

// Sealer encrypts SigV4 secrets at rest with AES-256-GCM under a key derived
// from a server secret. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from serverSecret (at least
// MinServerSecret bytes; e.g. the output of `openssl rand -base64 32`).
func NewSealer(serverSecret []byte) (*Sealer, error) {
	if len(serverSecret) < MinServerSecret {
		return nil, fmt.Errorf("keys: the server key secret must be at least %d bytes (try `openssl rand -base64 32`)", MinServerSecret)
	}
	key, err := hkdf.Key(sha256.New, serverSecret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving the sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts secret for the key id. The id is authenticated with it, so
// a sealed secret copied to another key's row does not open.
func (s *Sealer) Seal(id, secret string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(secret), []byte(id))
}

// errOpen is deliberately vague: it means a wrong server secret as often as
// a damaged row.
var errOpen = errors.New("keys: cannot open the sealed secret (wrong server key secret?)")

// Open decrypts what Seal returned for id.
func (s *Sealer) Open(id string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return "", errOpen
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return "", errOpen
	}
	return string(plain), nil
}

// SealerFromEnv returns the sealer for SigV4 secrets when SecretEnv is set
// (getenv is usually os.Getenv), or nil when it is not: then secrets are
// stored unsealed.
func SealerFromEnv(getenv func(string) string) (*Sealer, error) {
	secret := getenv(SecretEnv)
	if secret == "" {
		return nil, nil
	}
	s, err := NewSealer([]byte(secret))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretEnv, err)
	}
	return s, nil
}
