package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/govern"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/route"
)

// Validate checks everything decoding cannot, in one place: values,
// and everything that needs the catalog (c.Catalog merged over the
// built-in one) — route tiers and baselines, learned router files,
// fallback lists, budgets and simulator faults. It reports every problem
// it finds, not only the first.
func (c *Config) Validate() error {
	errs := c.validateValues()
	errs = append(errs, c.validateProvisioned()...)
	cat, err := c.LoadCatalog()
	if err != nil {
		errs = append(errs, fmt.Errorf("catalog: %w", err))
		return errors.Join(errs...)
	}
	return errors.Join(append(errs, c.validateWith(cat)...)...)
}

// validateProvisioned checks each Provisioned Throughput entry's values.
func (c *Config) validateProvisioned() []error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.Provisioned {
		at := fmt.Sprintf("provisioned[%d]", i)
		if !strings.HasPrefix(p.ARN, "arn:") || !strings.Contains(p.ARN, ":provisioned-model/") {
			errs = append(errs, fmt.Errorf("%s: arn %q is not a provisioned-model ARN (arn:aws:bedrock:REGION:ACCOUNT:provisioned-model/ID)", at, p.ARN))
		}
		if seen[p.ARN] {
			errs = append(errs, fmt.Errorf("%s: arn %s is listed twice", at, p.ARN))
		}
		seen[p.ARN] = true
		if p.Model == "" {
			errs = append(errs, fmt.Errorf("%s: model is required (the catalog model it serves)", at))
		}
		if p.ModelUnits < 1 {
			errs = append(errs, fmt.Errorf("%s: model_units must be at least 1", at))
		}
		if _, err := catalog.ParseDollars(p.HourlyUSD); err != nil {
			errs = append(errs, fmt.Errorf("%s: hourly_usd: %w", at, err))
		}
		switch p.Commitment {
		case "none", "1month", "6month":
		default:
			errs = append(errs, fmt.Errorf("%s: commitment %q is not none, 1month or 6month", at, p.Commitment))
		}
		if p.Since != "" {
			if _, err := time.Parse("2006-01-02", p.Since); err != nil {
				errs = append(errs, fmt.Errorf("%s: since %q is not a date like 2026-12-01", at, p.Since))
			}
		}
		if p.CapacityTPM < 0 {
			errs = append(errs, fmt.Errorf("%s: capacity_tpm must not be negative", at))
		}
	}
	return errs
}

// validateWith checks what needs the catalog.
func (c *Config) validateWith(cat *catalog.Catalog) []error {
	var errs []error
	if _, err := route.NewTable(c.RouteConfigs(), cat.CanonicalID); err != nil {
		errs = append(errs, fmt.Errorf("routes: %w", err))
	}
	for _, r := range c.Routes {
		if r.Fallbacks != nil {
			if err := r.Fallbacks.Validate(cat); err != nil {
				errs = append(errs, fmt.Errorf("routes %s: fallbacks: %w", r.Name, err))
			}
		}
	}
	if err := govern.ValidateRules(c.Budgets, cat); err != nil {
		errs = append(errs, fmt.Errorf("budgets: %w", err))
	}
	if c.Simulate {
		faults := c.Simulator.Faults
		if err := faults.Validate(cat); err != nil {
			errs = append(errs, fmt.Errorf("simulator.%w", err))
		}
	}
	return errs
}

// validateValues checks the values that need nothing else.
func (c *Config) validateValues() []error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen must not be empty"))
	}
	if t := c.TLS; t.Enabled() {
		if t.CertFile == "" || t.KeyFile == "" {
			errs = append(errs, errors.New("tls: set both cert_file and key_file"))
		} else if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("tls: %w", err))
		}
	}
	if b := c.Cache.Backend; b != "memory" && !strings.HasPrefix(b, "redis://") && !strings.HasPrefix(b, "rediss://") {
		errs = append(errs, fmt.Errorf("cache.backend %q is not memory or a redis:// URL", b))
	}
	if err := c.Cache.Policy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("cache: %w", err))
	}
	if err := c.PromptPolicy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("prompt_policy: %w", err))
	}
	if err := c.PromptCache.validate(); err != nil {
		errs = append(errs, fmt.Errorf("prompt_cache: %w", err))
	}
	errs = append(errs, c.Batch.validate()...)
	errs = append(errs, c.validateRouteModes()...)
	for _, r := range c.Routes {
		if r.PromptPolicy != nil {
			if err := r.PromptPolicy.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("routes %s: prompt_policy: %w", r.Name, err))
			}
		}
		if r.Cache != nil {
			if err := r.Cache.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("routes %s: cache: %w", r.Name, err))
			}
		}
		if r.PromptCache != nil {
			if err := r.PromptCache.validate(); err != nil {
				errs = append(errs, fmt.Errorf("routes %s: prompt_cache: %w", r.Name, err))
			}
		}
		switch r.Latency {
		case "", "interactive", "tolerant":
		default:
			errs = append(errs, fmt.Errorf("routes %s: latency %q is not interactive or tolerant", r.Name, r.Latency))
		}
		switch t := llm.ServiceTier(r.ServiceTier); t {
		case "", llm.TierDefault, llm.TierFlex, llm.TierPriority:
		default:
			errs = append(errs, fmt.Errorf("routes %s: service_tier %q is not default, flex or priority", r.Name, r.ServiceTier))
		}
	}
	if f := c.Alerts.WebhookFormat; f != "" && f != "json" && f != "slack" {
		errs = append(errs, fmt.Errorf("alerts.webhook_format %q is not json or slack", f))
	}
	if u := c.Alerts.WebhookURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		errs = append(errs, fmt.Errorf("alerts.webhook_url %q must be an http(s) URL", u))
	}
	switch c.Auth {
	case "", "required", "off":
	default:
		errs = append(errs, fmt.Errorf("auth %q is not required or off", c.Auth))
	}
	if c.Limits.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("limits.max_body_bytes must be positive"))
	}
	if c.Limits.RequestTimeout <= 0 {
		errs = append(errs, errors.New("limits.request_timeout must be positive"))
	}
	if c.Limits.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("limits.shutdown_timeout must be positive"))
	}
	errs = append(errs, c.Ledger.validate()...)
	errs = append(errs, c.Limits.validate()...)
	switch c.AdminAuth {
	case "", "loopback", "required", "off":
	default:
		errs = append(errs, fmt.Errorf("admin_auth %q is not loopback, required or off", c.AdminAuth))
	}
	if c.AdminAuth == "required" && !c.AuthRequired() {
		errs = append(errs, errors.New("admin_auth: required needs keys, but auth is off: set auth: required, or admin_auth: loopback"))
	}
	if c.AdminEnabled() && c.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		errs = append(errs, fmt.Errorf("admin_listen %s is the API's listen address: the admin listener needs an address of its own (or off)", c.AdminListen))
	}
	if c.Responses.Retention <= 0 {
		errs = append(errs, errors.New("responses.retention must be positive"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q is not text or json", c.Log.Format))
	}
	if ts := c.Simulator.TimeScale; ts != nil && *ts < 0 {
		errs = append(errs, errors.New("simulator.time_scale must not be negative"))
	}
	names := map[string]bool{"bedrock": true}
	for i, u := range c.Upstreams {
		switch {
		case u.Name == "":
			errs = append(errs, fmt.Errorf("upstreams[%d]: name is required", i))
		case names[u.Name]:
			errs = append(errs, fmt.Errorf("upstreams[%d]: name %q is taken", i, u.Name))
		}
		names[u.Name] = true
		if u.Type != "openai" {
			errs = append(errs, fmt.Errorf("upstreams[%d]: type %q is not supported (openai)", i, u.Type))
		}
		if !strings.HasPrefix(u.BaseURL, "http://") && !strings.HasPrefix(u.BaseURL, "https://") {
			errs = append(errs, fmt.Errorf("upstreams[%d]: base_url %q must be an http(s) URL", i, u.BaseURL))
		}
	}
	return errs
}

// validate checks the limits added with the admin listener; the older
// ones are checked where they always were.
func (l Limits) validate() []error {
	var errs []error
	for _, d := range []struct {
		name string
		v    Duration
	}{{"read_header_timeout", l.ReadHeaderTimeout}, {"read_timeout", l.ReadTimeout}, {"large_body_wait", l.LargeBodyWait}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("limits.%s must be positive", d.name))
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{{"max_tags", int64(l.MaxTags)}, {"max_tag_key_bytes", int64(l.MaxTagKeyBytes)}, {"max_tag_value_bytes", int64(l.MaxTagValueBytes)},
		{"max_tenant_bytes", int64(l.MaxTenantBytes)}, {"max_tenants", int64(l.MaxTenants)}, {"large_body_bytes", l.LargeBodyBytes},
		{"max_concurrent_large_bodies", int64(l.MaxConcurrentLargeBodies)}} {
		if n.v <= 0 {
			errs = append(errs, fmt.Errorf("limits.%s must be positive", n.name))
		}
	}
	return errs
}
