package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/auth"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite"
)

// keysCLI runs `penny keys …` through a root of its own, as main.go will
// register it.
func keysCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "penny", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newKeys())
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"keys"}, args...))
	err = root.Execute()
	return out.String(), errb.String(), err
}

func mustKeys(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := keysCLI(t, args...)
	if err != nil {
		t.Fatalf("penny keys %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

var (
	tokenRE  = regexp.MustCompile(`(?m)^  (pk-[A-Za-z0-9_-]{43})$`)
	akidRE   = regexp.MustCompile(`aws_access_key_id     = (PNY[A-Z2-7]{17})\n`)
	secretRE = regexp.MustCompile(`aws_secret_access_key = ([A-Za-z0-9+/]{40})\n`)
)

// printed extracts the secrets from `penny keys create`'s text output.
func printed(t *testing.T, out string) keys.Secret {
	t.Helper()
	tok, id, sec := tokenRE.FindStringSubmatch(out), akidRE.FindStringSubmatch(out), secretRE.FindStringSubmatch(out)
	if tok == nil || id == nil || sec == nil {
		t.Fatalf("create did not print a token, access key id and secret:\n%s", out)
	}
	return keys.Secret{Token: tok[1], AccessKeyID: id[1], SecretAccessKey: sec[1]}
}

// verify authenticates with the printed secrets against the database, as
// `penny serve` would, both ways.
func verify(t *testing.T, db string, s keys.Secret) error {
	t.Helper()
	sdb, err := sqlite.OpenURL(db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	store, err := sqlite.NewKeyStore(context.Background(), sdb, sqlite.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(store, auth.Options{})
	defer a.Close()

	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.Header.Set("Authorization", "Bearer "+s.Token)
	_, bearerErr := a.Authenticate(r, nil)

	body := []byte(`{"messages":[]}`)
	sum := sha256.Sum256(body)
	r = httptest.NewRequest("POST", "http://127.0.0.1:8484/model/nova-micro/converse", bytes.NewReader(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey},
		r, hex.EncodeToString(sum[:]), "bedrock", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, sigErr := a.Authenticate(r, body)
	if (bearerErr == nil) != (sigErr == nil) {
		t.Errorf("bearer and SigV4 disagree: %v / %v", bearerErr, sigErr)
	}
	return bearerErr
}

func TestKeysCreateListRevoke(t *testing.T) {
	t.Setenv(keys.SecretEnv, "")
	db := "sqlite://" + filepath.Join(t.TempDir(), "penny.db")

	out := mustKeys(t, "create", "--db", db, "--tenant", "acme", "--tags", "team=support,app=chat",
		"--budget-month", "500", "--rpm", "600", "--tpm", "200000", "--name", "support bot")
	s := printed(t, out)
	for _, want := range []string{"Created key " + s.AccessKeyID + " for tenant acme (support bot).",
		"role:   tenant", "tags:   app=chat,team=support", "budget $500.00/month, 600 requests/min, 200000 tokens/min", "shown only now", "plain text"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	if err := verify(t, db, s); err != nil {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}

	var created keyJSON
	out = mustKeys(t, "create", "--db", db, "--tenant", "globex", "--format", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create --format json: %v\n%s", err, out)
	}
	if created.Tenant != "globex" || created.Role != keys.RoleTenant || created.ID != created.AccessKeyID || !strings.HasPrefix(created.Token, "pk-") ||
		len(created.SecretAccessKey) != 40 || created.BudgetMonth != nil || created.RPM != nil {
		t.Errorf("create --format json = %+v", created)
	}

	list := mustKeys(t, "list", "--db", db)
	row := regexp.MustCompile(`(?m)^` + s.AccessKeyID + `\s+support bot\s+acme\s+tenant\s+app=chat,team=support\s+\$500\.00\s+600\s+200000\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+-$`)
	if !row.MatchString(list) || !strings.Contains(list, created.ID) {
		t.Errorf("list:\n%s", list)
	}
	if got := mustKeys(t, "list", "--db", db, "--tenant", "globex"); strings.Contains(got, s.AccessKeyID) || !strings.Contains(got, created.ID) {
		t.Errorf("list --tenant globex:\n%s", got)
	}

	out = mustKeys(t, "revoke", "--db", db, s.AccessKeyID)
	if !strings.Contains(out, "revoked "+s.AccessKeyID+" (tenant acme)") {
		t.Errorf("revoke output: %s", out)
	}
	if err := verify(t, db, s); llm.KindOf(err) != llm.KindUnauthorized || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("a revoked key authenticates: %v", err)
	}
	var listed struct{ Keys []keyJSON }
	if err := json.Unmarshal([]byte(mustKeys(t, "list", "--db", db, "--format", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Keys) != 2 || listed.Keys[0].Revoked == nil || listed.Keys[0].LastUsed == nil || listed.Keys[1].Revoked != nil ||
		*listed.Keys[0].BudgetMonth != "500.000000" || listed.Keys[0].Token != "" {
		t.Errorf("list --format json = %+v", listed.Keys)
	}
	if got := mustKeys(t, "list", "--db", db, "--active"); strings.Contains(got, s.AccessKeyID) {
		t.Errorf("list --active shows the revoked key:\n%s", got)
	}
	if _, _, err := keysCLI(t, "revoke", "--db", db, "PNYAAAAAAAAAAAAAAAAA"); err == nil || !strings.Contains(err.Error(), "no key PNYAAAAAAAAAAAAAAAAA") {
		t.Errorf("revoke unknown: %v", err)
	}

	// The ledger shares the file: report reads it (and adds its schema).
	// An admin key: tenant "admin" unless given, role admin in the list.
	var admin keyJSON
	if err := json.Unmarshal([]byte(mustKeys(t, "create", "--db", db, "--role", "admin", "--name", "prometheus", "--format", "json")), &admin); err != nil {
		t.Fatal(err)
	}
	if admin.Role != keys.RoleAdmin || admin.Tenant != "admin" {
		t.Errorf("create --role admin = %+v", admin)
	}
	if out := mustKeys(t, "create", "--db", db, "--role", "admin", "--tenant", "ops"); !strings.Contains(out, "role:   admin") {
		t.Errorf("create --role admin:\n%s", out)
	}
	if list := mustKeys(t, "list", "--db", db); !regexp.MustCompile(`(?m)^` + admin.ID + `\s+prometheus\s+admin\s+admin\s`).MatchString(list) {
		t.Errorf("list does not show the admin key's role:\n%s", list)
	}

	if out := mustPenny(t, "report", "--db", db, "--since", ""); !strings.Contains(out, "No requests") {
		t.Errorf("report on the keys database:\n%s", out)
	}
	if err := verify(t, db, keys.Secret{Token: created.Token, AccessKeyID: created.AccessKeyID, SecretAccessKey: created.SecretAccessKey}); err != nil {
		t.Errorf("key lost after the ledger migrated the file: %v", err)
	}
}

func TestKeysSealed(t *testing.T) {
	db := filepath.Join(t.TempDir(), "penny.db")
	t.Setenv(keys.SecretEnv, "correct horse battery staple, 32b")
	out := mustKeys(t, "create", "--db", db, "--tenant", "acme")
	if !strings.Contains(out, "stored sealed with "+keys.SecretEnv) {
		t.Errorf("create with a server secret:\n%s", out)
	}
	s := printed(t, out)

	t.Setenv(keys.SecretEnv, "a different secret of enough len")
	if _, _, err := keysCLI(t, "create", "--db", db, "--tenant", "acme"); err == nil || !strings.Contains(err.Error(), keys.SecretEnv) {
		t.Errorf("create with the wrong server secret: %v", err)
	}
	t.Setenv(keys.SecretEnv, "short")
	if _, _, err := keysCLI(t, "create", "--db", db, "--tenant", "acme"); err == nil || !strings.Contains(err.Error(), "at least 16 bytes") {
		t.Errorf("create with a short server secret: %v", err)
	}
	t.Setenv(keys.SecretEnv, "")
	_, stderr, err := keysCLI(t, "create", "--db", db, "--tenant", "acme")
	if err != nil || !strings.Contains(stderr, "1 keys in "+db+" are sealed") {
		t.Errorf("create without the server secret next to sealed keys: %v, stderr %q", err, stderr)
	}
	// list and revoke need no server secret.
	mustKeys(t, "revoke", "--db", db, s.AccessKeyID)
}

func TestKeysErrors(t *testing.T) {
	t.Setenv(keys.SecretEnv, "")
	dir := t.TempDir()
	db := filepath.Join(dir, "penny.db")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"create", "--db", db}, `--tenant is required for a tenant key`},
		{[]string{"create", "--db", db, "--tenant", "acme", "--role", "root"}, `--role: role "root" is not admin or tenant`},
		{[]string{"create", "--db", db, "--tenant", "acme corp"}, `tenant names are ASCII letters`},
		{[]string{"create", "--db", db, "--tenant", "acme", "--tags", "team"}, "--tags"},
		{[]string{"create", "--db", db, "--tenant", "acme", "--budget-month", "lots"}, "--budget-month"},
		{[]string{"create", "--db", db, "--tenant", "acme", "--rpm", "-1"}, "negative"},
		{[]string{"create", "--db", db, "--tenant", "acme", "--format", "yaml"}, "--format"},
		{[]string{"create", "--db", "postgres://db/penny", "--tenant", "acme"}, "not supported"},
		{[]string{"list", "--db", db}, "no database at " + db},
		{[]string{"revoke", "--db", db, "PNYAAAAAAAAAAAAAAAAA"}, "no database at"},
		{[]string{"revoke", "--db", db}, "accepts 1 arg"},
	} {
		_, _, err := keysCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("penny keys %s: err = %v, want %q", strings.Join(tc.args, " "), err, tc.msg)
		}
	}
	if out := mustKeys(t, "create", "--db", db, "--tenant", "acme"); !strings.Contains(out, "Created key") {
		t.Error(out)
	}
	if out := mustKeys(t, "list", "--db", db, "--tenant", "nobody"); strings.TrimSpace(out) != "no keys" {
		t.Errorf("empty list: %q", out)
	}
}

// TestKeysDefaultDatabase checks that without --db the config's database
// (PENNY_DATABASE here) is used, as by serve and report.
func TestKeysDefaultDatabase(t *testing.T) {
	t.Setenv(keys.SecretEnv, "")
	db := filepath.Join(t.TempDir(), "from-env.db")
	t.Setenv("PENNY_DATABASE", "sqlite://"+db)
	s := printed(t, mustKeys(t, "create", "--tenant", "acme"))
	if err := verify(t, "sqlite://"+db, s); err != nil {
		t.Errorf("key not in the configured database: %v", err)
	}
}
