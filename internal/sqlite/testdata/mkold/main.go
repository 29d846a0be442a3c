// Command mkold writes testdata/old/*.db: databases made by the packages
// internal/ledger/sqlite and internal/keys/sqlite as they were before they
// merged into internal/sqlite, so that tests can check that the new
// package opens and migrates them. It builds only at a commit that still
// has those packages; see testdata/old/README.md.
package main

import (
	"context"
	"errors"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/penny-gateway/penny/internal/keys"
	keysqlite "github.com/penny-gateway/penny/internal/keys/sqlite"
	"github.com/penny-gateway/penny/internal/ledger"
	ledgersqlite "github.com/penny-gateway/penny/internal/ledger/sqlite"
	"github.com/penny-gateway/penny/internal/llm"
)

// The values the tests look for; keep them in step with old_test.go.
const (
	plainID, plainToken, plainSecret    = "PNYOLDPLAINKEY222222", "pk-old-plain-token", "old-plain-secret-access-key"
	sealedID, sealedToken, sealedSecret = "PNYOLDSEALEDKEY33333", "pk-old-sealed-token", "old-sealed-secret-access-key"
	serverSecret                        = "old fixture server secret"
)

var t0 = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func main() {
	dir := filepath.Join("internal", "sqlite", "testdata", "old")
	for name, steps := range map[string][]func(string) error{
		"ledger.db": {writeLedger},
		"keys.db":   {writeKeys},
		"both.db":   {writeLedger, writeKeys},
	} {
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Fatal(err)
		}
		for _, step := range steps {
			if err := step(path); err != nil {
				log.Fatalf("%s: %v", path, err)
			}
		}
		for _, side := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + side); err == nil {
				log.Fatalf("%s%s left behind: the fixture is not one file", path, side)
			}
		}
	}
}

// writeLedger appends three records, two with tags, as penny serve would.
func writeLedger(path string) error {
	s, err := ledgersqlite.Open(path)
	if err != nil {
		return err
	}
	recs := []ledger.Record{
		{Time: t0, RequestID: "old-1", Tenant: "acme", KeyID: plainID, Route: "chat", API: "openai",
			Model: "nova-lite", BaselineModel: "nova-pro", Provider: "bedrock", Mode: "on_demand",
			Status: ledger.StatusOK, HTTPStatus: 200, InputTokens: 100, OutputTokens: 50,
			Latency: 100 * time.Millisecond, Cost: 1000, BaselineCost: 4000, Cache: "miss",
			Strategy: "routing", Tags: map[string]string{"team": "search"}},
		{Time: t0.Add(time.Minute), RequestID: "old-2", Tenant: "acme", KeyID: plainID, Route: "chat", API: "converse",
			Model: "nova-pro", BaselineModel: "nova-pro", Provider: "bedrock", Mode: "on_demand",
			Status: ledger.StatusOK, HTTPStatus: 200, InputTokens: 200, OutputTokens: 100,
			Latency: 300 * time.Millisecond, Cost: 5000, BaselineCost: 5000, Cache: "miss",
			Tags: map[string]string{"team": "ads", "env": "prod"}},
		{Time: t0.Add(2 * time.Minute), RequestID: "old-3", Tenant: "globex", Route: "chat", API: "openai",
			Status: ledger.StatusError, ErrorKind: string(llm.KindThrottled), HTTPStatus: 429,
			ErrorMessage: "too many requests", Cache: "bypass"},
	}
	if err := s.Append(context.Background(), recs); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

// writeKeys creates a plain key without a server secret, then a sealed one
// with it, as two runs of penny keys create would.
func writeKeys(path string) error {
	sealer, err := keys.NewSealer([]byte(serverSecret))
	if err != nil {
		return err
	}
	for _, k := range []struct {
		sealer            *keys.Sealer
		id, token, secret string
		tenant            string
	}{
		{nil, plainID, plainToken, plainSecret, "acme"},
		{sealer, sealedID, sealedToken, sealedSecret, "globex"},
	} {
		s, err := keysqlite.Open(path, keysqlite.Options{Sealer: k.sealer})
		if err != nil {
			return err
		}
		rec := keys.Record{
			Key: keys.Key{ID: k.id, Name: "old", Tenant: k.tenant, Tags: map[string]string{"team": "search"},
				Limits: keys.Limits{BudgetMonth: 5 * llm.Dollar, RPM: 60}, Created: t0},
			TokenHash: keys.HashToken(k.token), SigningSecret: k.secret,
		}
		if err := s.Create(context.Background(), rec); err != nil {
			s.Close()
			return err
		}
		if err := s.Close(); err != nil {
			return err
		}
	}
	return nil
}
