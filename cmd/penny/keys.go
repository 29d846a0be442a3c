package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite"
)

func newKeys() *cobra.Command {
	var dbURL, cfgPath string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys (tenants, tags, limits)",
		Long: `Manage the API keys clients authenticate to Penny with. Keys live in the
ledger database, so ` + "`penny keys`" + ` and ` + "`penny serve`" + ` pointed at the same
database (--db, or the config's database) see the same keys.

A key is printed once, when it is created:
  - a bearer token (pk-…) for OpenAI clients: their API key;
  - an access key id (PNY…) and secret access key for AWS SDK clients, which
    sign Converse requests with SigV4 as they would for Bedrock.
Penny stores a SHA-256 hash of the token. The secret access key must stay
verifiable, so it is stored sealed (AES-256-GCM) when ` + keys.SecretEnv + ` is set
(every penny keys and penny serve process needs the same value), and in plain
text otherwise: then anyone who can read the database can sign as any key.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&dbURL, "db", "", "database: a sqlite:// URL or a file path (default: the config's database, "+config.Defaults().Database+" unless --config or PENNY_DATABASE sets one)")
	pf.StringVar(&cfgPath, "config", "", "config file whose database to use when --db is not given")
	resolveDB := func(cmd *cobra.Command) (string, error) {
		if cmd.Flags().Changed("db") {
			return dbURL, nil
		}
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			if cfgPath != "" {
				return "", err
			}
			return config.Defaults().Database, nil
		}
		return cfg.Database, nil
	}
	cmd.AddCommand(newKeysCreate(resolveDB), newKeysList(resolveDB), newKeysRevoke(resolveDB))
	return cmd
}

func newKeysCreate(resolveDB func(*cobra.Command) (string, error)) *cobra.Command {
	var (
		tenant, name, tags, budget, format, role string
		rpm, tpm                                 int
	)
	cmd := &cobra.Command{
		Use:   "create --tenant TENANT [--role tenant|admin] [--tags k=v,…] [--budget-month USD] [--rpm N] [--tpm N] [--name NAME]",
		Short: "Create a key and print its secrets, once",
		Long: `Create a key and print its secrets, once.

--role decides what the key may read besides calling models:
  tenant (the default)  its own tenant's usage (GET /v1/penny/usage) and nothing else
  admin                 every tenant: /metrics, /admin/alerts and /admin/usage on the
                        admin listener (admin_listen), penny alerts, and any tenant's usage
Both roles call models the same way, attributed and budgeted to the key's tenant
(an admin key's tenant defaults to "admin").`,
		Example: `  penny keys create --tenant acme --tags team=support,app=chat --budget-month 500 --rpm 600 --tpm 200000
  penny keys create --tenant acme --name batch-jobs --format json
  penny keys create --role admin --name prometheus`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q is not text or json", format)
			}
			r, err := keys.ParseRole(role)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			if tenant == "" && r == keys.RoleAdmin {
				tenant = "admin"
			}
			if tenant == "" {
				return errors.New("--tenant is required for a tenant key (only admin keys default to tenant \"admin\")")
			}
			k := keys.Key{Name: name, Tenant: tenant, Role: r, Limits: keys.Limits{RPM: rpm, TPM: tpm}}
			if k.Tags, err = keys.ParseTags(tags); err != nil {
				return fmt.Errorf("--tags: %w", err)
			}
			if budget != "" {
				if k.Limits.BudgetMonth, err = catalog.ParseDollars(budget); err != nil {
					return fmt.Errorf("--budget-month: %w", err)
				}
			}
			rec, secret, err := keys.New(k, time.Now())
			if err != nil {
				return err
			}
			url, err := resolveDB(cmd)
			if err != nil {
				return err
			}
			sealer, err := keys.SealerFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			db, store, err := openKeys(cmd.Context(), url, true, sealer)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := store.Create(cmd.Context(), rec); err != nil {
				return err
			}
			warnKeysStorage(cmd, db, store, sealer)
			if format == "json" {
				return writeKeyJSON(cmd.OutOrStdout(), rec.Key, &secret)
			}
			writeCreated(cmd.OutOrStdout(), rec.Key, secret, sealer != nil)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant the key's requests are attributed and budgeted to (required for tenant keys)")
	f.StringVar(&role, "role", "tenant", "tenant (sees only its own tenant) or admin (sees every tenant, metrics and alerts)")
	f.StringVar(&name, "name", "", "a label, e.g. the application that uses the key")
	f.StringVar(&tags, "tags", "", "cost-allocation tags put on every ledger record of the key: team=support,app=chat")
	f.StringVar(&budget, "budget-month", "", "monthly budget in USD, e.g. 500 (default: none)")
	f.IntVar(&rpm, "rpm", 0, "requests per minute (default: no limit)")
	f.IntVar(&tpm, "tpm", 0, "tokens per minute (default: no limit)")
	f.StringVar(&format, "format", "text", "text or json")
	return cmd
}

func newKeysList(resolveDB func(*cobra.Command) (string, error)) *cobra.Command {
	var tenant, format string
	var active bool
	cmd := &cobra.Command{
		Use:   "list [--tenant TENANT] [--active]",
		Short: "List keys: id, name, tenant, role, tags, limits, created, last used, revoked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q is not table or json", format)
			}
			url, err := resolveDB(cmd)
			if err != nil {
				return err
			}
			db, store, err := openKeys(cmd.Context(), url, false, nil)
			if err != nil {
				return err
			}
			defer db.Close()
			ks, err := store.List(cmd.Context(), keys.Filter{Tenant: tenant, Active: active})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeKeysJSON(cmd.OutOrStdout(), ks)
			}
			writeKeysTable(cmd.OutOrStdout(), ks)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "only this tenant's keys")
	f.BoolVar(&active, "active", false, "leave out revoked keys")
	f.StringVar(&format, "format", "table", "table or json")
	return cmd
}

func newKeysRevoke(resolveDB func(*cobra.Command) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key; running servers refuse it within seconds",
		Long: `Revoke the key with access key id ID (as ` + "`penny keys list`" + ` shows it).
Servers on the same database stop accepting it within their key cache's TTL
(15 seconds). Revoking is permanent; the key stays listed as revoked.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			url, err := resolveDB(cmd)
			if err != nil {
				return err
			}
			db, store, err := openKeys(cmd.Context(), url, false, nil)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx := cmd.Context()
			if err := store.Revoke(ctx, id, time.Now()); err != nil {
				if errors.Is(err, keys.ErrNotFound) {
					return fmt.Errorf("no key %s in %s (see penny keys list)", id, db.Path())
				}
				return err
			}
			ks, err := store.List(ctx, keys.Filter{})
			if err != nil {
				return err
			}
			for _, k := range ks {
				if k.ID == id {
					fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (tenant %s) at %s\n", k.ID, k.Tenant, k.Revoked.Format(time.RFC3339))
				}
			}
			return nil
		},
	}
}

// openKeys opens the database url names and its key store; the caller
// closes the database. Unless create is set, a database that does not exist
// is an error rather than a new file.
func openKeys(ctx context.Context, url string, create bool, sealer *keys.Sealer) (*sqlite.DB, *sqlite.KeyStore, error) {
	path, err := sqlite.ParsePath(url)
	if err != nil {
		return nil, nil, err
	}
	if !create && path != sqlite.MemoryPath {
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("no database at %s (create a key first with penny keys create, or pass --db)", path)
		case err != nil:
			return nil, nil, err
		case fi.IsDir():
			return nil, nil, fmt.Errorf("%s is a directory, not a database", path)
		}
	}
	_, statErr := os.Stat(path)
	db, err := sqlite.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if errors.Is(statErr, fs.ErrNotExist) && path != sqlite.MemoryPath {
		// A database created to hold keys is readable by its owner only
		// (SQLite gives its WAL files the same mode).
		if err := os.Chmod(path, 0o600); err != nil {
			db.Close()
			return nil, nil, err
		}
	}
	st, err := sqlite.NewKeyStore(ctx, db, sqlite.KeyOptions{Sealer: sealer})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, st, nil
}

// warnKeysStorage tells the operator, on stderr, what protects the SigV4
// secrets in the database when something is off.
func warnKeysStorage(cmd *cobra.Command, db *sqlite.DB, store *sqlite.KeyStore, sealer *keys.Sealer) {
	w := cmd.ErrOrStderr()
	if sealer != nil {
		return
	}
	if n, err := store.SealedKeys(cmd.Context()); err == nil && n > 0 {
		fmt.Fprintf(w, "warning: %d keys in %s are sealed with %s but it is not set here; this key's secret is stored in plain text\n",
			n, db.Path(), keys.SecretEnv)
	}
	if fi, err := os.Stat(db.Path()); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(w, "warning: %s is readable by other users (mode %v) and %s is not set, so the secret access key is stored in plain text: chmod 600 it, or set %s\n",
			db.Path(), fi.Mode().Perm(), keys.SecretEnv, keys.SecretEnv)
	}
}

func writeCreated(w io.Writer, k keys.Key, s keys.Secret, sealed bool) {
	fmt.Fprintf(w, "Created key %s for tenant %s", k.ID, k.Tenant)
	if k.Name != "" {
		fmt.Fprintf(w, " (%s)", k.Name)
	}
	fmt.Fprintln(w, ".")
	if k.Admin() {
		fmt.Fprintln(w, "  role:   admin (every tenant: metrics, alerts and usage on the admin listener)")
	} else {
		fmt.Fprintln(w, "  role:   tenant (its own tenant's usage only)")
	}
	if len(k.Tags) > 0 {
		fmt.Fprintf(w, "  tags:   %s\n", keys.FormatTags(k.Tags))
	}
	fmt.Fprintf(w, "  limits: budget %s/month, %s requests/min, %s tokens/min\n",
		budgetText(k.Limits.BudgetMonth), limitText(k.Limits.RPM), limitText(k.Limits.TPM))
	fmt.Fprintf(w, `
The secrets below are shown only now; Penny cannot print them again.

OpenAI clients (the API key, sent as "Authorization: Bearer"):
  %s

AWS SDK clients (credentials; requests are SigV4-signed for service "bedrock", any region):
  aws_access_key_id     = %s
  aws_secret_access_key = %s
`, s.Token, s.AccessKeyID, s.SecretAccessKey)
	if sealed {
		fmt.Fprintf(w, "\nThe secret access key is stored sealed with %s.\n", keys.SecretEnv)
	} else {
		fmt.Fprintf(w, "\nThe secret access key is stored in plain text (set %s to seal it); protect the database file.\n", keys.SecretEnv)
	}
}

// keyJSON is a key in `penny keys list --format json` and `create --format
// json`, which adds the secrets.
type keyJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Tenant      string            `json:"tenant"`
	Role        keys.Role         `json:"role"`
	Tags        map[string]string `json:"tags"`
	BudgetMonth *string           `json:"budget_month_usd"`
	RPM         *int              `json:"rpm"`
	TPM         *int              `json:"tpm"`
	Created     time.Time         `json:"created"`
	LastUsed    *time.Time        `json:"last_used"`
	Revoked     *time.Time        `json:"revoked"`

	Token           string `json:"token,omitempty"`
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
}

func toJSON(k keys.Key) keyJSON {
	j := keyJSON{ID: k.ID, Name: k.Name, Tenant: k.Tenant, Role: k.Role, Tags: k.Tags, Created: k.Created}
	if j.Tags == nil {
		j.Tags = map[string]string{}
	}
	if k.Limits.BudgetMonth > 0 {
		s := k.Limits.BudgetMonth.String()
		j.BudgetMonth = &s
	}
	if k.Limits.RPM > 0 {
		j.RPM = &k.Limits.RPM
	}
	if k.Limits.TPM > 0 {
		j.TPM = &k.Limits.TPM
	}
	if !k.LastUsed.IsZero() {
		j.LastUsed = &k.LastUsed
	}
	if !k.Revoked.IsZero() {
		j.Revoked = &k.Revoked
	}
	return j
}

func writeKeyJSON(w io.Writer, k keys.Key, s *keys.Secret) error {
	j := toJSON(k)
	if s != nil {
		j.Token, j.AccessKeyID, j.SecretAccessKey = s.Token, s.AccessKeyID, s.SecretAccessKey
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

func writeKeysJSON(w io.Writer, ks []keys.Key) error {
	out := struct {
		Keys []keyJSON `json:"keys"`
	}{Keys: []keyJSON{}}
	for _, k := range ks {
		out.Keys = append(out.Keys, toJSON(k))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeKeysTable(w io.Writer, ks []keys.Key) {
	if len(ks) == 0 {
		fmt.Fprintln(w, "no keys")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTENANT\tROLE\tTAGS\tBUDGET/MONTH\tRPM\tTPM\tCREATED\tLAST USED\tREVOKED")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			k.ID, dash(k.Name), k.Tenant, k.Role, dash(keys.FormatTags(k.Tags)),
			budgetText(k.Limits.BudgetMonth), limitText(k.Limits.RPM), limitText(k.Limits.TPM),
			timeText(k.Created), timeText(k.LastUsed), timeText(k.Revoked))
	}
	tw.Flush()
}

// budgetText formats a budget in USD with at least two decimals, "-" for
// none.
func budgetText(m llm.Money) string {
	if m <= 0 {
		return "-"
	}
	s := strings.TrimRight(m.String(), "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return "$" + s
}

func limitText(n int) string {
	if n <= 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
