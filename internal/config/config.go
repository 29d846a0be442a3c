// Package config loads penny.yaml strictly (unknown keys are errors),
// applies PENNY_* environment overrides and validates the result.
//
// Precedence, lowest to highest: built-in defaults, the config file, the
// environment, command-line flags (applied by the caller).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/fallback"
	"github.com/penny-gateway/penny/internal/govern"
	"github.com/penny-gateway/penny/internal/promptpolicy"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/responses"
	"github.com/penny-gateway/penny/internal/route"
)

// Config is the whole of penny.yaml.
type Config struct {
	// Listen is the address serve listens on (default 127.0.0.1:8484). It
	// speaks HTTP/1.1 and HTTP/2: h2c (prior knowledge) on plain HTTP, h2
	// by ALPN with TLS.
	Listen string `yaml:"listen"`
	// TLS, if its files are set, serves HTTPS on Listen.
	TLS TLS `yaml:"tls"`
	// AdminListen is the admin listener's address (default
	// 127.0.0.1:8485): GET /metrics, /admin/alerts and /admin/usage, every
	// tenant's data, kept off the API listener. "" or "off" turns it off.
	AdminListen string `yaml:"admin_listen"`
	// AdminAuth says who may read the admin listener: "loopback" (the
	// default) lets anyone who can reach a loopback address in without a
	// key and asks for an admin key on any other address; "required" asks
	// for an admin key always; "off" never does, even on a non-loopback
	// address (only behind a network that is itself the access control).
	AdminAuth string `yaml:"admin_auth"`
	// Database is the ledger's storage URL (default sqlite://penny.db).
	Database string `yaml:"database"`
	// Simulate answers every model with the built-in simulator.
	Simulate bool `yaml:"simulate"`
	// Auth is "required" (every request needs a Penny key, see penny keys)
	// or "off". Empty means required, except with simulate, where it is off.
	Auth string `yaml:"auth"`
	// Catalog is an optional file of models that override or extend the
	// built-in catalog.
	Catalog   string     `yaml:"catalog"`
	Bedrock   Bedrock    `yaml:"bedrock"`
	Simulator Simulator  `yaml:"simulator"`
	Upstreams []Upstream `yaml:"upstreams"`
	Routes    []Route    `yaml:"routes"`
	Cache     Cache      `yaml:"cache"`
	Alerts    Alerts     `yaml:"alerts"`
	// Provisioned lists the Provisioned Throughput the account has bought:
	// their ARNs become model ids Penny knows (priced at zero per token:
	// the commitment is paid by the hour) and `penny report` shows the
	// amortised cost and utilisation of each.
	Provisioned []Provisioned `yaml:"provisioned"`
	// Budgets limit spend per tenant, key, tag or route, per day or month.
	Budgets []govern.BudgetRule `yaml:"budgets"`
	// PromptPolicy applies to requests whose route has no prompt_policy of
	// its own: default and maximum max_tokens, an output-format
	// instruction, whitespace normalisation.
	PromptPolicy promptpolicy.Policy `yaml:"prompt_policy"`
	// TemplatesDir holds managed prompt templates, one YAML file each.
	TemplatesDir string `yaml:"templates_dir"`
	// Tracing exports OpenTelemetry traces (GenAI conventions) over
	// OTLP/HTTP; off unless an endpoint is set.
	Tracing Tracing `yaml:"tracing"`
	// PromptCache inserts Bedrock prompt-cache checkpoints after long
	// stable prefixes for models that support them (default true); a
	// route's prompt_cache overrides it.
	PromptCache PromptCache `yaml:"prompt_cache"`
	// Responses configures the OpenAI Responses API's stored responses.
	Responses Responses `yaml:"responses"`
	// Batch configures batch inference (deferred requests, the Batch API).
	Batch  Batch  `yaml:"batch"`
	Limits Limits `yaml:"limits"`
	Ledger Ledger `yaml:"ledger"`
	Log    Log    `yaml:"log"`
}

// Provisioned is one Provisioned Throughput purchase.
type Provisioned struct {
	// Name is what reports call it; default the ARN's id.
	Name string `yaml:"name"`
	// ARN is the provisioned model, arn:aws:bedrock:REGION:ACCOUNT:provisioned-model/ID.
	ARN string `yaml:"arn"`
	// Model is the catalog model it serves (its on-demand price is the
	// baseline requests are compared with).
	Model string `yaml:"model"`
	// ModelUnits bought, and the price of one model unit per hour (USD).
	ModelUnits int    `yaml:"model_units"`
	HourlyUSD  string `yaml:"hourly_usd"`
	// Commitment is "none", "1month" or "6month".
	Commitment string `yaml:"commitment"`
	// Since is when the commitment began (YYYY-MM-DD, UTC): hours before
	// it are not charged in reports. Empty: the whole report window.
	Since string `yaml:"since"`
	// CapacityTPM is the tokens (input and output) one model unit serves
	// per minute, from AWS's quote for the model; it gives utilisation.
	// 0: utilisation unknown.
	CapacityTPM int `yaml:"capacity_tpm"`
}

// provisionedAliases returns the provisioned ARNs and the models they serve, for
// catalog.WithAliases.
func provisionedAliases(ps []Provisioned) map[string]string {
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		out[p.ARN] = p.Model
	}
	return out
}

// LoadCatalog loads the catalog this config names (the built-in one with
// the catalog file merged over it) and adds the provisioned ARNs as ids of
// the models they serve.
func (c *Config) LoadCatalog() (*catalog.Catalog, error) {
	cat, err := catalog.Load(c.Catalog)
	if err != nil {
		return nil, err
	}
	return cat.WithAliases(provisionedAliases(c.Provisioned))
}

// TLS names the certificate and key files (PEM) of the listener.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Route is one route of penny.yaml: how it picks a model (route.Config,
// the routing stage's part) and, optionally, its own policies for the
// stages after routing, which replace the global ones for its requests.
type Route struct {
	route.Config `yaml:",inline"`
	// Cache, if set, replaces the global response-cache policy.
	Cache *cache.Policy `yaml:"cache"`
	// PromptCache, if set, turns automatic Bedrock prompt-cache
	// checkpoints on or off, and may ask for the 1-hour TTL.
	PromptCache *PromptCache `yaml:"prompt_cache"`
	// ServiceTier, if set, is the Bedrock service tier the route's
	// requests ask for (default, flex, priority), unless a request names
	// one itself.
	ServiceTier string `yaml:"service_tier"`
	// Latency "tolerant" sends the route's requests to Bedrock's Flex
	// tier where the model offers it (discounted, slower), falling back
	// to the default tier when Flex is throttled; "" or "interactive"
	// leaves the tier alone.
	Latency string `yaml:"latency"`
	// Fallbacks, if set, are tried when the chosen model is throttled,
	// unavailable, not ready or times out.
	Fallbacks *fallback.List `yaml:"fallbacks"`
	// PromptPolicy, if set, replaces the global prompt policy: default and
	// maximum max_tokens, an output-format instruction, whitespace
	// normalisation.
	PromptPolicy *promptpolicy.Policy `yaml:"prompt_policy"`
	// Mode batch defers every request of the route to a Bedrock batch
	// job, as x-penny-defer does (default on_demand).
	Mode string `yaml:"mode"`
}

// PromptCache is `prompt_cache: true` or `false`, or
// `prompt_cache: {enabled: true, ttl: 1h}`: whether Penny inserts Bedrock
// prompt-cache checkpoints, and their TTL ("" or "5m" for Bedrock's
// default of five minutes, "1h" where the model offers it).
type PromptCache struct {
	Enabled bool   `yaml:"enabled"`
	TTL     string `yaml:"ttl"`
}

// UnmarshalYAML takes a boolean or a mapping (enabled defaults to true
// there, so `{ttl: 1h}` turns the 1-hour TTL on). Unknown keys are errors.
func (p *PromptCache) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var on bool
		if err := n.Decode(&on); err != nil {
			return fmt.Errorf("line %d: prompt_cache is true, false or {enabled, ttl}", n.Line)
		}
		*p = PromptCache{Enabled: on}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: prompt_cache is true, false or {enabled, ttl}", n.Line)
	}
	v := PromptCache{Enabled: true}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "enabled":
			err = val.Decode(&v.Enabled)
		case "ttl":
			err = val.Decode(&v.TTL)
		default:
			return fmt.Errorf("line %d: unknown key %q", k.Line, k.Value)
		}
		if err != nil {
			return fmt.Errorf("line %d: prompt_cache.%s: %w", val.Line, k.Value, err)
		}
	}
	*p = v
	return nil
}

func (p PromptCache) validate() error {
	switch p.TTL {
	case "", "5m", "1h":
		return nil
	}
	return fmt.Errorf("ttl %q is not 5m or 1h", p.TTL)
}

// RouteConfigs returns the routing part of every route, in order.
func (c *Config) RouteConfigs() []route.Config {
	out := make([]route.Config, len(c.Routes))
	for i, r := range c.Routes {
		out[i] = r.Config
	}
	return out
}

// Bedrock configures the real Bedrock upstream.
type Bedrock struct {
	// Region defaults to the AWS SDK's own (AWS_REGION, ~/.aws/config),
	// then us-east-1.
	Region string `yaml:"region"`
	// Endpoint overrides the Bedrock runtime endpoint (e.g. a VPC endpoint).
	Endpoint string `yaml:"endpoint"`
	// Timeout bounds one upstream call (default 2 minutes).
	Timeout Duration `yaml:"timeout"`
}

// Simulator configures the built-in simulator.
type Simulator struct {
	Seed int64 `yaml:"seed"`
	// TimeScale multiplies simulated latencies: 1 is Bedrock-like, 0 is instant.
	TimeScale *float64 `yaml:"time_scale"`
	// Faults injects upstream failures, as probabilities from 0 to 1
	// (see sim.Faults; checked against the catalog when Penny starts).
	Faults sim.Faults `yaml:"faults"`
}

// Upstream is an OpenAI-compatible server (vLLM, Ollama, LiteLLM, …) that
// serves some catalog models.
type Upstream struct {
	Name string `yaml:"name"`
	// Type is "openai" (the only type besides the built-in bedrock).
	Type    string `yaml:"type"`
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding the API key.
	APIKeyEnv string   `yaml:"api_key_env"`
	Timeout   Duration `yaml:"timeout"`
}

// Cache configures the exact response cache. Its policy fields are the
// default for requests that do not go through a route with a cache policy
// of its own.
type Cache struct {
	// Backend is "memory" (the default: in-process, bounded by MaxBytes) or
	// a redis:// URL, so that several Penny instances share one cache.
	Backend string `yaml:"backend"`
	// MaxBytes bounds the in-process cache (default 64 MiB).
	MaxBytes     int64 `yaml:"max_bytes"`
	cache.Policy `yaml:",inline"`
}

// Alerts configures where spend, rate and runaway-loop alerts go besides
// the log and GET /admin/alerts.
type Alerts struct {
	// WebhookURL receives each alert as a POST.
	WebhookURL string `yaml:"webhook_url"`
	// WebhookFormat is "json" (the default) or "slack".
	WebhookFormat string `yaml:"webhook_format"`
	// ThrottleLoops makes the rate limiter refuse a key's requests for a
	// few minutes after a runaway loop was detected on it.
	ThrottleLoops bool `yaml:"throttle_loops"`
}

// Tracing configures OpenTelemetry trace export.
type Tracing struct {
	// Endpoint is an OTLP/HTTP collector, e.g. http://127.0.0.1:4318.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio of requests traced, in (0, 1]; default 1.
	SampleRatio float64 `yaml:"sample_ratio"`
	// Headers are sent with every export (e.g. an API key).
	Headers map[string]string `yaml:"headers"`
}

// Responses configures the responses stored for the OpenAI Responses API
// (GET /v1/responses/{id}, previous_response_id), in the database, per
// tenant. A request with store: false stores nothing.
type Responses struct {
	// Retention is how long a stored response is served; expired ones
	// are deleted in the background (default 720h, 30 days, as OpenAI
	// keeps them).
	Retention Duration `yaml:"retention"`
}

// Limits protect the gateway.
type Limits struct {
	// MaxBodyBytes caps request bodies (default 10 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// RequestTimeout bounds a request end to end (default 5 minutes),
	// once its body is read.
	RequestTimeout Duration `yaml:"request_timeout"`
	// ReadHeaderTimeout bounds reading a request's headers (default 10s);
	// ReadTimeout bounds reading its body (default 60s), so that a client
	// trickling its request cannot hold a connection. Neither bounds a
	// streamed answer.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	// MaxTags, MaxTagKeyBytes and MaxTagValueBytes bound a request's
	// cost-allocation tags (x-penny-tags, body metadata and the key's
	// together; defaults 32, 64 and 256). MaxTenantBytes bounds the
	// x-penny-tenant header with auth off (default 64).
	MaxTags          int `yaml:"max_tags"`
	MaxTagKeyBytes   int `yaml:"max_tag_key_bytes"`
	MaxTagValueBytes int `yaml:"max_tag_value_bytes"`
	MaxTenantBytes   int `yaml:"max_tenant_bytes"`
	// MaxTenants bounds how many distinct tenants, and as many keys, the
	// anomaly detector and the budgets keep state for in memory (default
	// 10,000); beyond it, new ones share one overflow state (and are
	// counted in penny_tracked_overflow_total).
	MaxTenants int `yaml:"max_tenants"`
	// LargeBodyBytes is the size from which a request body counts as
	// large (default 1 MiB); at most MaxConcurrentLargeBodies of them
	// (default 16) are in flight at once, a further one waits up to
	// LargeBodyWait (default 5s) and is then refused with 503 and
	// Retry-After, which bounds the memory large requests take.
	LargeBodyBytes           int64    `yaml:"large_body_bytes"`
	MaxConcurrentLargeBodies int      `yaml:"max_concurrent_large_bodies"`
	LargeBodyWait            Duration `yaml:"large_body_wait"`
	// ShutdownTimeout is how long SIGINT/SIGTERM wait for in-flight
	// requests (streams included) before cancelling them (default 30s).
	// Cancelled requests are still recorded in the ledger.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Ledger tunes the ledger writer and says what it does when the database
// cannot take records.
type Ledger struct {
	QueueSize     int      `yaml:"queue_size"`
	BatchSize     int      `yaml:"batch_size"`
	FlushInterval Duration `yaml:"flush_interval"`
	// OnFailure is what happens while the database cannot take records
	// (failing, or stalled past MaxWait): "spool" (default) keeps serving
	// and keeps the records in the spool file until the database is back;
	// "refuse" answers new requests 503, in the caller's API format.
	OnFailure string `yaml:"on_failure"`
	// SpoolPath is the spool file (default: the database's path plus
	// ".spool").
	SpoolPath string `yaml:"spool_path"`
	// MaxWait bounds how long a slow or stalled database may hold a
	// request up (default 1s); past it, records go to the spool.
	MaxWait Duration `yaml:"max_wait"`
	// Durability is "fast" (default: a record is queued when its response
	// ends and committed within flush_interval) or "strict" (a record is
	// committed, group-committed with its neighbours with synchronous=FULL,
	// before its response ends).
	Durability string `yaml:"durability"`
}

// Values of Ledger.OnFailure and Ledger.Durability.
const (
	LedgerSpool  = "spool"
	LedgerRefuse = "refuse"
	LedgerFast   = "fast"
	LedgerStrict = "strict"
)

func (l Ledger) validate() []error {
	var errs []error
	if l.OnFailure != LedgerSpool && l.OnFailure != LedgerRefuse {
		errs = append(errs, fmt.Errorf("ledger.on_failure %q is not spool or refuse", l.OnFailure))
	}
	if l.Durability != LedgerFast && l.Durability != LedgerStrict {
		errs = append(errs, fmt.Errorf("ledger.durability %q is not fast or strict", l.Durability))
	}
	if l.MaxWait <= 0 {
		errs = append(errs, errors.New("ledger.max_wait must be positive"))
	}
	if l.QueueSize < 0 || l.BatchSize < 0 || l.FlushInterval < 0 {
		errs = append(errs, errors.New("ledger.queue_size, batch_size and flush_interval must not be negative"))
	}
	return errs
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error (default info).
	Level string `yaml:"level"`
	// Format is text or json (default text).
	Format string `yaml:"format"`
	// Requests logs every request at info level (an access log). Failures
	// of Penny or its upstreams are logged at warn either way.
	Requests bool `yaml:"requests"`
}

// DefaultAdminListen is the admin listener's default address.
const DefaultAdminListen = "127.0.0.1:8485"

// AdminEnabled reports whether the admin listener is on.
func (c *Config) AdminEnabled() bool { return c.AdminListen != "" && c.AdminListen != "off" }

// Duration is a time.Duration written as "30s", "5m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 5m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		Listen:      "127.0.0.1:8484",
		AdminListen: DefaultAdminListen,
		Database:    "sqlite://penny.db",
		Limits: Limits{MaxBodyBytes: 10 << 20, RequestTimeout: Duration(5 * time.Minute), ShutdownTimeout: Duration(30 * time.Second),
			ReadHeaderTimeout: Duration(10 * time.Second), ReadTimeout: Duration(60 * time.Second),
			MaxTags: 32, MaxTagKeyBytes: 64, MaxTagValueBytes: 256, MaxTenantBytes: 64, MaxTenants: 10_000,
			LargeBodyBytes: 1 << 20, MaxConcurrentLargeBodies: 16, LargeBodyWait: Duration(5 * time.Second)},
		Bedrock:     Bedrock{Timeout: Duration(2 * time.Minute)},
		Log:         Log{Level: "info", Format: "text"},
		Cache:       Cache{Backend: "memory", MaxBytes: 64 << 20, Policy: cache.Policy{Enabled: true}},
		PromptCache: PromptCache{Enabled: true},
		Ledger:      Ledger{OnFailure: LedgerSpool, Durability: LedgerFast, MaxWait: Duration(time.Second)},
		Responses:   Responses{Retention: Duration(responses.DefaultRetention)},
	}
}

// Load reads path (if not empty) over the defaults, then applies the
// environment (getenv, usually os.Getenv) and validates.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := decode(data, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		c.resolvePaths(filepath.Dir(path))
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// resolvePaths makes the relative file paths of a config file relative to
// the file's own folder, so that `penny serve --config etc/penny.yaml`
// finds what the file names wherever it is run from. Paths from the
// environment and flags stay relative to the working directory.
func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Catalog = abs(c.Catalog)
	c.TemplatesDir = abs(c.TemplatesDir)
	c.TLS.CertFile = abs(c.TLS.CertFile)
	c.TLS.KeyFile = abs(c.TLS.KeyFile)
	c.Ledger.SpoolPath = abs(c.Ledger.SpoolPath)
	switch db := c.Database; {
	case strings.HasPrefix(db, "sqlite://"):
		if p := strings.TrimPrefix(db, "sqlite://"); p != "" && p != ":memory:" {
			c.Database = "sqlite://" + abs(p)
		}
	case strings.Contains(db, "://") || db == ":memory:":
		// Another engine's URL, or no file at all.
	default:
		c.Database = abs(db)
	}
	for i := range c.Routes {
		if l := c.Routes[i].Learned; l != nil {
			cp := *l
			cp.Model = abs(cp.Model)
			c.Routes[i].Learned = &cp
		}
	}
}

func decode(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return readable(err)
	}
	return nil
}

// readable rewrites yaml's type errors for the person editing the file:
// "line 3: field limts not found in type config.Config" names a Go type
// they have never seen, so it becomes `line 3: unknown key "limts"`. Each
// error keeps its line; several are joined with "; ". Other errors are
// returned as they are.
func readable(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = unknownKey(m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// unknownKey rewrites one "line N: field KEY not found in type T" message;
// any other message is returned unchanged.
func unknownKey(msg string) string {
	line, rest, ok := strings.Cut(msg, ": field ")
	if !ok || !strings.HasPrefix(line, "line ") {
		return msg
	}
	i := strings.LastIndex(rest, " not found in type ")
	if i < 0 {
		return msg
	}
	return fmt.Sprintf("%s: unknown key %q", line, rest[:i])
}

// Env lists the PENNY_* variables Load reads, for --help and the README.
var Env = []struct{ Name, Field string }{
	{"PENNY_LISTEN", "listen"},
	{"PENNY_ADMIN_LISTEN", "admin_listen"},
	{"PENNY_ADMIN_AUTH", "admin_auth"},
	{"PENNY_TLS_CERT_FILE", "tls.cert_file"},
	{"PENNY_TLS_KEY_FILE", "tls.key_file"},
	{"PENNY_DATABASE", "database"},
	{"PENNY_SIMULATE", "simulate"},
	{"PENNY_AUTH", "auth"},
	{"PENNY_CATALOG", "catalog"},
	{"PENNY_BEDROCK_REGION", "bedrock.region"},
	{"PENNY_BEDROCK_ENDPOINT", "bedrock.endpoint"},
	{"PENNY_BEDROCK_TIMEOUT", "bedrock.timeout"},
	{"PENNY_SIM_SEED", "simulator.seed"},
	{"PENNY_SIM_TIME_SCALE", "simulator.time_scale"},
	{"PENNY_MAX_BODY_BYTES", "limits.max_body_bytes"},
	{"PENNY_REQUEST_TIMEOUT", "limits.request_timeout"},
	{"PENNY_SHUTDOWN_TIMEOUT", "limits.shutdown_timeout"},
	{"PENNY_READ_TIMEOUT", "limits.read_timeout"},
	{"PENNY_LOG_LEVEL", "log.level"},
	{"PENNY_LOG_FORMAT", "log.format"},
	{"PENNY_LOG_REQUESTS", "log.requests"},
	{"PENNY_CACHE", "cache.backend"},
	{"PENNY_OTLP_ENDPOINT", "tracing.endpoint"},
	{"PENNY_TEMPLATES_DIR", "templates_dir"},
	{"PENNY_RESPONSES_RETENTION", "responses.retention"},
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	for _, e := range Env {
		v := strings.TrimSpace(getenv(e.Name))
		if v == "" {
			continue
		}
		if err := c.Set(e.Field, v); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	return nil
}

// Set assigns one field by its YAML path, for environment variables and flags.
func (c *Config) Set(field, v string) error {
	var err error
	dur := func(d *Duration) {
		var x time.Duration
		if x, err = time.ParseDuration(v); err == nil {
			*d = Duration(x)
		}
	}
	switch field {
	case "listen":
		c.Listen = v
	case "admin_listen":
		c.AdminListen = v
	case "admin_auth":
		c.AdminAuth = v
	case "tls.cert_file":
		c.TLS.CertFile = v
	case "tls.key_file":
		c.TLS.KeyFile = v
	case "database":
		c.Database = v
	case "simulate":
		c.Simulate, err = strconv.ParseBool(v)
	case "auth":
		c.Auth = v
	case "catalog":
		c.Catalog = v
	case "bedrock.region":
		c.Bedrock.Region = v
	case "bedrock.endpoint":
		c.Bedrock.Endpoint = v
	case "bedrock.timeout":
		dur(&c.Bedrock.Timeout)
	case "simulator.seed":
		c.Simulator.Seed, err = strconv.ParseInt(v, 10, 64)
	case "simulator.time_scale":
		var f float64
		if f, err = strconv.ParseFloat(v, 64); err == nil {
			c.Simulator.TimeScale = &f
		}
	case "limits.max_body_bytes":
		c.Limits.MaxBodyBytes, err = strconv.ParseInt(v, 10, 64)
	case "limits.request_timeout":
		dur(&c.Limits.RequestTimeout)
	case "limits.shutdown_timeout":
		dur(&c.Limits.ShutdownTimeout)
	case "limits.read_timeout":
		dur(&c.Limits.ReadTimeout)
	case "cache.backend":
		c.Cache.Backend = v
	case "tracing.endpoint":
		c.Tracing.Endpoint = v
	case "templates_dir":
		c.TemplatesDir = v
	case "responses.retention":
		dur(&c.Responses.Retention)
	case "log.requests":
		c.Log.Requests, err = strconv.ParseBool(v)
	case "log.level":
		c.Log.Level = v
	case "log.format":
		c.Log.Format = v
	default:
		return fmt.Errorf("unknown setting %q", field)
	}
	if err != nil {
		return fmt.Errorf("%s: invalid value %q", field, v)
	}
	return nil
}

// AuthRequired reports whether requests need a Penny key: Auth if set,
// else required unless simulating.
func (c *Config) AuthRequired() bool {
	if c.Auth == "" {
		return !c.Simulate
	}
	return c.Auth == "required"
}
