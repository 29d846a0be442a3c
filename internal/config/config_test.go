package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "penny.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8484" || c.Database != "sqlite://penny.db" || c.Simulate || c.Responses.Retention.D() != 30*24*time.Hour {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	p := write(t, `
listen: 127.0.0.1:9000
database: sqlite:///tmp/x.db
simulate: true
bedrock: {region: eu-west-1, timeout: 30s}
simulator:
  seed: 3
  time_scale: 0.5
  faults: {throttle: 0.1, models: {nova-pro: {server_error: 0.2}}}
limits: {max_body_bytes: 1024, request_timeout: 10s}
responses: {retention: 48h}
routes:
  - name: support
    baseline: nova-pro
    tiers: [{name: simple, model: nova-micro}]
`)
	c, err := Load(p, env(map[string]string{"PENNY_LISTEN": "127.0.0.1:9100", "PENNY_SIMULATE": "false", "PENNY_REQUEST_TIMEOUT": "1m"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9100" {
		t.Errorf("env did not override listen: %s", c.Listen)
	}
	if c.Simulate {
		t.Error("env did not override simulate")
	}
	if c.Responses.Retention.D() != 48*time.Hour {
		t.Errorf("responses: %+v", c.Responses)
	}
	if c.Limits.RequestTimeout.D() != time.Minute || c.Limits.MaxBodyBytes != 1024 {
		t.Errorf("limits: %+v", c.Limits)
	}
	if c.Bedrock.Region != "eu-west-1" || c.Bedrock.Timeout.D() != 30*time.Second {
		t.Errorf("bedrock: %+v", c.Bedrock)
	}
	if c.Simulator.Faults.Throttle != 0.1 || c.Simulator.Faults.Models["nova-pro"].ServerError != 0.2 || *c.Simulator.TimeScale != 0.5 {
		t.Errorf("simulator: %+v", c.Simulator)
	}
	if len(c.Routes) != 1 || c.Routes[0].Tiers[0].Model != "nova-micro" {
		t.Errorf("routes: %+v", c.Routes)
	}
}

func TestStrictErrors(t *testing.T) {
	cases := []struct {
		name, body string
		env        map[string]string
		want       string
	}{
		{"unknown key", "listen: x\nlisten_addr: y\n", nil, "listen_addr"},
		{"unknown nested key", "bedrock: {regoin: us-east-1}\n", nil, "regoin"},
		{"bad duration", "limits: {request_timeout: forever}\n", nil, "duration"},
		{"bad log level", "log: {level: loud}\n", nil, "log.level"},
		{"bad upstream", "upstreams: [{name: x, type: grpc, base_url: ftp://x}]\n", nil, "type"},
		{"bad env", "", map[string]string{"PENNY_SIMULATE": "maybe"}, "PENNY_SIMULATE"},
		{"zero retention", "responses: {retention: 0s}\n", nil, "responses.retention"},
		{"unknown responses key", "responses: {retension: 1h}\n", nil, "retension"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.body), env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestUnknownKeyMessages(t *testing.T) {
	cases := []struct {
		name, body string
		want       string // the error after "config PATH: "
	}{
		{"top level", "listen: x\n\nlimts: {max_body_bytes: 1}\n", `line 3: unknown key "limts"`},
		{"nested", "bedrock:\n  regoin: us-east-1\n", `line 2: unknown key "regoin"`},
		{"in a route tier", "routes:\n  - name: r\n    baseline: nova-pro\n    tiers: [{name: a, modle: nova-micro}]\n",
			`line 4: unknown key "modle"`},
		{"in simulator faults", "simulator:\n  faults: {throtle: 0.1}\n", `line 2: unknown key "throtle"`},
		{"several", "listn: x\nlog: {levl: info}\n", `line 1: unknown key "listn"; line 2: unknown key "levl"`},
		{"other type errors are kept", "limits: {max_body_bytes: lots}\n", "line 1: cannot unmarshal !!str `lots` into int64"},
		{"syntax errors are kept", "listen: [\n", "yaml: line 1: did not find expected node content"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.body)
			_, err := Load(p, env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			if got, want := err.Error(), "config "+p+": "+tc.want; got != want {
				t.Errorf("err = %q\nwant  %q", got, want)
			}
			if strings.Contains(err.Error(), "not found in type") {
				t.Errorf("err = %q names a Go type", err)
			}
		})
	}
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../../examples/penny.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) == 0 {
		t.Error("example config has no routes")
	}
}

// TestRelativePaths: paths in a config file are relative to its folder,
// whatever the working directory; the environment's stay relative to it,
// and a missing file is named in full.
func TestRelativePaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "models.yaml"), []byte("models: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "penny.yaml")
	body := `
database: sqlite://ledger.db
catalog: models.yaml
templates_dir: templates
routes:
  - name: support
    baseline: nova-pro
    strategy: learned
    default: cheap
    tiers: [{name: cheap, model: nova-micro}, {name: strong, model: nova-pro}]
    learned: {model: router.json, strong: strong}
`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, env(nil))
	want := filepath.Join(dir, "router.json")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("missing router file: %v; want the error to name %s", err, want)
	}
	c, err := Load(p, env(map[string]string{"PENNY_DATABASE": "here.db"}))
	if err == nil {
		t.Fatal("want the missing router error again")
	}
	if c.Catalog != filepath.Join(dir, "models.yaml") || c.TemplatesDir != filepath.Join(dir, "templates") ||
		c.Routes[0].Learned.Model != want || c.Database != "here.db" {
		t.Errorf("paths: catalog %s templates %s learned %s database %s", c.Catalog, c.TemplatesDir, c.Routes[0].Learned.Model, c.Database)
	}
	c, _ = Load(p, env(nil))
	if c.Database != "sqlite://"+filepath.Join(dir, "ledger.db") {
		t.Errorf("database %s", c.Database)
	}
}

func TestPromptCacheSetting(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    PromptCache
		route   *PromptCache
		wantErr string
	}{
		{body: "prompt_cache: false\n", want: PromptCache{}},
		{body: "prompt_cache: {ttl: 1h}\n", want: PromptCache{Enabled: true, TTL: "1h"}},
		{body: "prompt_cache: {enabled: false, ttl: 5m}\n", want: PromptCache{TTL: "5m"}},
		{body: "prompt_cache: {ttl: 2h}\n", wantErr: `ttl "2h" is not 5m or 1h`},
		{body: "prompt_cache: {tll: 1h}\n", wantErr: `unknown key "tll"`},
		{body: "prompt_cache: sometimes\n", wantErr: "prompt_cache is true, false or {enabled, ttl}"},
		{body: "routes:\n  - name: r\n    baseline: nova-pro\n    tiers: [{model: nova-lite}]\n    prompt_cache: {ttl: 1h}\n    service_tier: flex\n",
			want: PromptCache{Enabled: true}, route: &PromptCache{Enabled: true, TTL: "1h"}},
		{body: "routes:\n  - name: r\n    baseline: nova-pro\n    tiers: [{model: nova-lite}]\n    service_tier: turbo\n", wantErr: `service_tier "turbo"`},
	} {
		c, err := Load(write(t, tc.body), env(nil))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.body, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if c.PromptCache != tc.want || (tc.route != nil && (c.Routes[0].PromptCache == nil || *c.Routes[0].PromptCache != *tc.route || c.Routes[0].ServiceTier != "flex")) {
			t.Errorf("%q: got %+v routes %+v", tc.body, c.PromptCache, c.Routes)
		}
	}
}
