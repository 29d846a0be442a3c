package cache_test

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/penny-gateway/penny/internal/cache"
)

func TestPolicyYAML(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want cache.Policy
		err  string
	}{
		{"all fields", "enabled: true\nttl: 90s\nmax_entry_bytes: 4096\nallow_nonzero_temperature: true\nshared_across_tenants: true\n",
			cache.Policy{Enabled: true, TTL: 90 * time.Second, MaxEntryBytes: 4096, AllowNonZeroTemperature: true, SharedAcrossTenants: true}, ""},
		{"defaults left zero", "enabled: true\n", cache.Policy{Enabled: true}, ""},
		{"disabled", "enabled: false\n", cache.Policy{}, ""},
		{"bare number ttl", "ttl: 300\n", cache.Policy{}, "cannot unmarshal"},
		{"unknown field", "enabled: true\nttl_seconds: 5\n", cache.Policy{}, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p cache.Policy
			dec := yaml.NewDecoder(strings.NewReader(tt.yaml))
			dec.KnownFields(true)
			err := dec.Decode(&p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v; want one with %q", err, tt.err)
				}
				return
			}
			if err != nil || p != tt.want {
				t.Fatalf("decoded %+v, %v; want %+v", p, err, tt.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []cache.Policy{{TTL: -time.Second}, {MaxEntryBytes: -1}} {
		if p.Validate() == nil {
			t.Errorf("%+v is valid", p)
		}
	}
	if err := (cache.Policy{Enabled: true, TTL: time.Minute}).Validate(); err != nil {
		t.Error(err)
	}
}
