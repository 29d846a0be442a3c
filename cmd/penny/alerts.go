package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/texttable"
)

func newAlerts() *cobra.Command {
	var url, key, format, cfgPath string
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List recent spend, rate and runaway-loop alerts of a running Penny",
		Long: `List the alerts a running Penny raised recently (GET /admin/alerts): spend and
request-rate spikes per tenant and key against a rolling baseline, and runaway
loops (the same prompt repeated many times in a minute by one key). Alerts also
go to the log and, if configured, to a webhook (alerts.webhook_url).

Alerts show every tenant, so they are served on the admin listener
(admin_listen, default 127.0.0.1:8485; --url defaults to the config's). There
no key is needed on a loopback address; elsewhere, or with admin_auth:
required, pass an admin key (penny keys create --role admin): --key pk-… or
PENNY_API_KEY.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				key = os.Getenv("PENNY_API_KEY")
			}
			if !cmd.Flags().Changed("url") {
				switch cfg, err := loadConfig(cfgPath); {
				case err != nil && cfgPath != "":
					return err
				case err != nil:
					url = "http://" + config.DefaultAdminListen
				case !cfg.AdminEnabled():
					return fmt.Errorf("the admin listener is off in the config (admin_listen): pass --url")
				default:
					url = "http://" + cfg.AdminListen
				}
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, strings.TrimRight(url, "/")+"/admin/alerts", nil)
			if err != nil {
				return err
			}
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				return fmt.Errorf("no Penny admin listener answering at %s (start penny serve, or pass --url with its admin_listen address): %w", url, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			switch {
			case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
				return keyRefused(url, key, resp.Status, body)
			case resp.StatusCode != http.StatusOK:
				return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				_, err := out.Write(body)
				return err
			}
			if format != "table" {
				return fmt.Errorf("--format %q is not table or json", format)
			}
			var list struct {
				Alerts []struct {
					Kind, Tenant, Message string
					KeyID                 string    `json:"key_id"`
					At                    time.Time `json:"at"`
				} `json:"alerts"`
			}
			if err := json.Unmarshal(body, &list); err != nil {
				return fmt.Errorf("unexpected answer from %s: %w", url, err)
			}
			if len(list.Alerts) == 0 {
				fmt.Fprintln(out, "No alerts.")
				return nil
			}
			rows := [][]string{{"AT", "KIND", "TENANT", "KEY", "MESSAGE"}}
			for _, a := range list.Alerts {
				rows = append(rows, []string{a.At.UTC().Format(time.RFC3339), a.Kind, orDash(a.Tenant), orDash(a.KeyID), a.Message})
			}
			return texttable.WriteLeft(out, rows, 2, len(rows[0]))
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "the running Penny's admin listener (default: http:// and the config's admin_listen, "+config.DefaultAdminListen+" unless set)")
	f.StringVar(&key, "key", "", "an admin key (bearer token), when the admin listener asks for one; default $PENNY_API_KEY")
	f.StringVar(&cfgPath, "config", "", "config file whose admin_listen to use when --url is not given")
	f.StringVar(&format, "format", "table", "table or json")
	return cmd
}

// keyRefused explains a 401 or 403 from the admin API: which key to pass,
// or that the one passed was refused.
func keyRefused(url, key, status string, body []byte) error {
	msg := strings.TrimSpace(string(body))
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
	}
	if key == "" {
		return fmt.Errorf("the Penny at %s needs an admin key (%s: %s): pass --key pk-… or set PENNY_API_KEY (penny keys create --role admin makes one)", url, status, msg)
	}
	return fmt.Errorf("the Penny at %s refused the key from --key or PENNY_API_KEY (%s: %s)", url, status, msg)
}

// orDash is s, or "—" for an empty cell.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
