package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/config"
)

func newServe() *cobra.Command {
	var (
		cfgPath   string
		addr      string
		simulate  bool
		db        string
		logLevel  string
		authMode  string
		adminAddr string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (OpenAI and Bedrock Converse APIs)",
		Long: `Run the gateway on 127.0.0.1:8484 (or --addr).

Clients call it with the APIs they already use:
  POST /v1/chat/completions               OpenAI chat completions (stream and not)
  GET  /v1/models                         catalog models and routes
  POST /model/{modelId}/converse          Bedrock Converse (AWS SDKs: set the endpoint)
  POST /model/{modelId}/converse-stream   Bedrock ConverseStream
  GET  /v1/penny/usage                    the caller's own usage (a tenant key sees its tenant only)
  GET  /healthz                           liveness
  GET  /readyz                            readiness: 503 while the ledger cannot record requests

and, on the admin listener (admin_listen, 127.0.0.1:8485 unless --admin-addr or
the config says otherwise; "off" turns it off), every tenant's data:
  GET  /metrics                           Prometheus metrics (CloudWatch names)
  GET  /admin/alerts                      recent spend, rate, loop and budget alerts
  GET  /admin/usage                       any tenant's usage, or all of them
On a loopback address it needs no key (admin_auth: loopback); elsewhere, or with
admin_auth: required, it needs an admin key (penny keys create --role admin).

Without --simulate Penny calls Amazon Bedrock with the standard AWS credential
chain (environment, shared config and credentials files, SSO, IMDS) and region,
and every request needs a Penny key (penny keys create): OpenAI clients send it
as a bearer token, AWS SDK clients use its access key id and secret as their
credentials and Penny verifies the SigV4 signature. --auth off turns that off.
With --simulate every catalog model is answered by Penny's built-in simulator:
no AWS account is needed and nothing leaves the machine.

Every request is written to the ledger (--db, default sqlite://penny.db);
` + "`penny report`" + ` reads it.

Environment variables override the config file, and flags override both:
` + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			flags := cmd.Flags()
			if flags.Changed("addr") {
				cfg.Listen = addr
			}
			if flags.Changed("simulate") {
				cfg.Simulate = simulate
			}
			if flags.Changed("db") {
				cfg.Database = db
			}
			if flags.Changed("log-level") {
				cfg.Log.Level = logLevel
			}
			if flags.Changed("auth") {
				cfg.Auth = authMode
			}
			if flags.Changed("admin-addr") {
				cfg.AdminListen = adminAddr
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			return serve(cmd, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "config file (YAML, strict: unknown keys are errors)")
	f.StringVar(&addr, "addr", "127.0.0.1:8484", "listen address")
	f.BoolVar(&simulate, "simulate", false, "answer every model with the built-in simulator (no AWS)")
	f.StringVar(&db, "db", "sqlite://penny.db", "ledger: a sqlite:// URL or a file path")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&adminAddr, "admin-addr", config.DefaultAdminListen, "admin listener address (metrics, alerts, every tenant's usage); off to turn it off")
	f.StringVar(&authMode, "auth", "", "required (every request needs a key from \"penny keys create\") or off; default required, off with --simulate")
	return cmd
}

func envHelp() string {
	var b strings.Builder
	for _, e := range config.Env {
		fmt.Fprintf(&b, "  %-24s %s\n", e.Name, e.Field)
	}
	return b.String()
}

func serve(cmd *cobra.Command, cfg config.Config) error {
	ctx := cmd.Context()
	log := newLogger(cmd.ErrOrStderr(), cfg)
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return err
	}
	if err := a.Listen(); err != nil {
		a.Shutdown(context.Background())
		return err
	}
	mode := "Amazon Bedrock (region " + a.Region() + ")"
	if cfg.Simulate {
		mode = "SIMULATOR — answers are simulated, no AWS calls are made"
	}
	authLine := "required (keys: penny keys create --tenant NAME)"
	if !cfg.AuthRequired() {
		authLine = "off (x-penny-tenant header attributes requests)"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "penny %s listening on %s\n  upstream: %s\n  ledger:   %s\n  auth:     %s\n  admin:    %s\n",
		readBuild(), a.URL(), mode, cfg.Database, authLine, adminLine(a, cfg))
	if a.Batch != nil {
		p := a.Batch.Policy()
		where := p.S3URI + ", role " + p.RoleARN
		if cfg.Simulate {
			where = "simulated S3 and Bedrock control plane"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "  batch:    %s (jobs of %d to %d records; below the minimum after %s: %s)\n",
			where, p.MinRecords, p.MaxRecords, p.MaxWait, p.BelowMinimum)
	}
	if !cfg.AuthRequired() && exposed(a.Addr()) {
		risk := "call Bedrock on this server's AWS account"
		if cfg.Simulate {
			risk = "use it"
		}
		log.Warn("auth is off and Penny listens on a non-loopback address: anyone who can connect can "+risk+
			" under any tenant name; listen on 127.0.0.1 (--addr) or turn auth on (--auth required, keys from penny keys create)",
			"addr", a.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Serve() }()
	select {
	case err := <-errc:
		a.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	// A second signal kills the process at once.
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	fmt.Fprintf(cmd.OutOrStdout(), "penny: shutting down, draining in-flight requests (up to %s; signal again to quit now)…\n", cfg.Limits.ShutdownTimeout.D())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownTimeout.D())
	defer cancel()
	err = a.Shutdown(sctx)
	fmt.Fprintf(cmd.OutOrStdout(), "penny: stopped; %s\n", a.LedgerSummary())
	return err
}

// adminLine says where the admin listener is and who may read it.
func adminLine(a *app.App, cfg config.Config) string {
	switch {
	case a.AdminURL() == "":
		return "off (admin_listen)"
	case a.AdminOpen():
		return a.AdminURL() + " (/metrics, /admin/*; no key needed)"
	}
	return a.AdminURL() + " (/metrics, /admin/*; admin keys: penny keys create --role admin)"
}

// exposed reports whether a listener's address accepts connections from
// other machines: it is not a loopback address (":8484" and "0.0.0.0:8484"
// listen on every interface).
func exposed(addr string) bool { return !app.Loopback(addr) }
