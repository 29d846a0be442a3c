package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/app"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/sqlite"
)

// TestProvisionedThroughput: a configured provisioned-model ARN is a model
// id Penny serves at zero marginal cost (mode provisioned), and the report
// shows the commitment's amortised cost, the on-demand equivalent of what
// it served and, with capacity_tpm, its utilisation.
func TestProvisionedThroughput(t *testing.T) {
	dir := t.TempDir()
	const arn = "arn:aws:bedrock:us-east-1:111122223333:provisioned-model/pt-support"
	cfgPath := filepath.Join(dir, "penny.yaml")
	if err := os.WriteFile(cfgPath, []byte(`simulate: true
database: penny.db
listen: 127.0.0.1:0
simulator: {time_scale: 0}
provisioned:
  - name: support-pt
    arn: `+arn+`
    model: nova-pro
    model_units: 2
    hourly_usd: "21.18"
    commitment: 1month
    capacity_tpm: 10000
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	resp, err := http.Post(a.URL()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"`+arn+`","messages":[{"role":"user","content":"Where is my order?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Penny-Cost-Usd") != "0.000000000" {
		t.Fatalf("%d, cost %s", resp.StatusCode, resp.Header.Get("X-Penny-Cost-Usd"))
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.OpenURL(cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := sqlite.NewLedgerStore(db).Records(context.Background(), ledger.RecordQuery{})
	db.Close()
	if len(recs) != 1 || recs[0].Mode != "provisioned" || recs[0].Cost != 0 || recs[0].BaselineCost == 0 ||
		recs[0].UpstreamModel != arn || !strings.Contains(recs[0].Strategy, "provisioned") {
		t.Fatalf("ledger %+v", recs)
	}

	out := mustPenny(t, "report", "--config", cfgPath, "--since", "2h", "--format", "json")
	var rep struct {
		Provisioned []ptRow `json:"provisioned"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Provisioned) != 1 {
		t.Fatalf("report: %v\n%s", err, out)
	}
	pt := rep.Provisioned[0]
	// Two hours of two units at $21.18 an hour.
	if pt.Name != "support-pt" || pt.Requests != 1 || pt.Hours < 1.99 || pt.Hours > 2.01 ||
		!strings.HasPrefix(pt.Amortised, "84.7") || pt.Use == nil || *pt.Use <= 0 {
		t.Errorf("provisioned row %+v", pt)
	}
	if table := mustPenny(t, "report", "--config", cfgPath, "--since", "2h"); !strings.Contains(table, "Provisioned Throughput") || !strings.Contains(table, "support-pt") {
		t.Errorf("table report:\n%s", table)
	}
}
