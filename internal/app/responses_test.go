package app

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/ledger"
)

// TestStoredResponsesSurviveRestart creates a response through Penny's own
// listener with HTTP/2 (prior knowledge), restarts Penny on the same
// database and continues the conversation from the stored response.
func TestStoredResponsesSurviveRestart(t *testing.T) {
	cfg := simConfig(t, 0)
	cfg.Responses = config.Responses{Retention: config.Duration(time.Hour)}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &p}}
	client := func(a *App) responses.ResponseService {
		return openai.NewClient(option.WithBaseURL(a.URL()+"/v1"), option.WithAPIKey("x"), option.WithMaxRetries(0), option.WithHTTPClient(hc)).Responses
	}
	ctx := context.Background()

	a := startApp(t, cfg)
	c := client(a)
	r1, err := c.New(ctx, responses.ResponseNewParams{Model: "nova-micro", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("My name is Ada.")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	a = startApp(t, cfg)
	c = client(a)
	var httpResp *http.Response
	r2, err := c.New(ctx, responses.ResponseNewParams{Model: "nova-micro", PreviousResponseID: openai.String(r1.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("What is my name?")}}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	if httpResp.ProtoMajor != 2 || r2.PreviousResponseID != r1.ID {
		t.Errorf("%s: %s", httpResp.Proto, r2.RawJSON())
	}
	page, err := c.InputItems.List(ctx, r2.ID, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 3 || !strings.Contains(page.Data[0].RawJSON(), "My name is Ada.") || page.Data[1].Role != "assistant" {
		t.Errorf("conversation of the follow-up: %s", page.RawJSON())
	}
	if err := a.Ledger.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := a.Store.Records(ctx, ledger.RecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].API != "responses" || recs[0].InputTokens <= recs[1].InputTokens {
		t.Errorf("ledger: the follow-up should carry the first turn's tokens: %+v", recs)
	}
}
