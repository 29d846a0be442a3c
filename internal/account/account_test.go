package account_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/penny-gateway/penny/internal/account"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/tokens"
)

// upstream answers with a fixed response, or streams events then err.
type upstream struct {
	resp   *llm.Response
	events []llm.Event
	err    error // returned by Invoke, or after the events of a stream
	extra  []llm.Charge
}

func (u upstream) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	req.Meta.Extra = append(req.Meta.Extra, u.extra...)
	if u.err != nil {
		return nil, u.err
	}
	cp := *u.resp
	return &cp, nil
}

func (u upstream) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	return &llm.SliceStream{Events: u.events, Err: u.err}, nil
}

// cost is m's on-demand price for u at the default tier.
func cost(m *catalog.Model, u llm.Usage) llm.Money {
	c, _ := m.Cost(u, catalog.Terms{})
	return c
}

func newReq(model string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("Where is my order?")}}}}
}

func stage(t *testing.T, next llm.Invoker) llm.Invoker {
	t.Helper()
	counter, err := tokens.New()
	if err != nil {
		t.Fatal(err)
	}
	return account.Stage(account.Options{Catalog: catalog.MustBuiltin(), Counter: counter})(next)
}

func TestInvokePricesAndBills(t *testing.T) {
	cat := catalog.MustBuiltin()
	micro, _ := cat.Resolve("nova-micro")
	pro, _ := cat.Resolve("nova-pro")
	u := llm.Usage{InputTokens: 1000, OutputTokens: 200}
	agent := llm.Usage{InputTokens: 50, OutputTokens: 1}
	cases := []struct {
		name          string
		up            upstream
		cache         llm.CacheStatus
		wantCost      llm.Money
		wantBaseline  llm.Money
		wantErr       bool
		wantBillUsage llm.Usage
	}{
		{"answered", upstream{resp: &llm.Response{Usage: u}}, llm.CacheMiss,
			cost(micro.Model, u), pro.Model.BaselineCost(u), false, u},
		{"with a routing agent's call", upstream{resp: &llm.Response{Usage: u}, extra: []llm.Charge{{Model: "nova-micro", Usage: agent, Why: llm.ChargeRoutingAgent}}}, llm.CacheMiss,
			cost(micro.Model, u) + cost(micro.Model, agent), pro.Model.BaselineCost(u), false, u},
		{"a cache hit costs nothing", upstream{resp: &llm.Response{Usage: u}}, llm.CacheHit,
			0, pro.Model.BaselineCost(u), false, u},
		{"failed, but the agent's call was billed", upstream{err: llm.Errorf(llm.KindThrottled, "slow down"), extra: []llm.Charge{{Model: "nova-micro", Usage: agent, Why: llm.ChargeRoutingAgent}}}, llm.CacheMiss,
			cost(micro.Model, agent), 0, true, llm.Usage{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq("nova-micro")
			req.Meta.BaselineModel, req.Meta.Cache = "nova-pro", tc.cache
			resp, err := stage(t, tc.up).Invoke(context.Background(), req)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			b := req.Meta.Bill
			if b.Cost != tc.wantCost || b.Baseline != tc.wantBaseline || b.Usage != tc.wantBillUsage || b.Estimated {
				t.Errorf("bill %+v, want cost %s baseline %s", b, tc.wantCost, tc.wantBaseline)
			}
			if resp != nil && (resp.Cost != b.Cost || resp.BaselineCost != b.Baseline) {
				t.Errorf("response cost %s/%s, bill %s/%s", resp.Cost, resp.BaselineCost, b.Cost, b.Baseline)
			}
		})
	}
}

// TestPromptRouterChoice: the model a Bedrock prompt router chose is what
// gets priced, and without a route it is the baseline too.
func TestPromptRouterChoice(t *testing.T) {
	u := llm.Usage{InputTokens: 100, OutputTokens: 10}
	req := newReq("arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/amazon.nova:1")
	if _, err := stage(t, upstream{resp: &llm.Response{Usage: u, InvokedModel: "amazon.nova-lite-v1:0"}}).Invoke(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	lite, _ := catalog.MustBuiltin().Resolve("nova-lite")
	if req.Model != "nova-lite" || req.Meta.BaselineModel != "nova-lite" || req.Meta.Bill.Cost != cost(lite.Model, u) {
		t.Errorf("model %s baseline %s bill %+v", req.Model, req.Meta.BaselineModel, req.Meta.Bill)
	}
}

func TestStreamSettles(t *testing.T) {
	u := llm.Usage{InputTokens: 40, OutputTokens: 12}
	text := func(s string) llm.Event { return llm.Event{Type: llm.EventBlockDelta, Delta: llm.Delta{Text: s}} }
	full := []llm.Event{{Type: llm.EventMessageStart, Role: llm.RoleAssistant}, text("Your order ships today."),
		{Type: llm.EventMessageStop, StopReason: llm.StopEndTurn}, {Type: llm.EventMetadata, Usage: &u}}
	cases := []struct {
		name          string
		events        []llm.Event
		err           error
		readAll       bool
		wantEstimated bool
		wantUsage     func(llm.Usage) bool
	}{
		{"reported usage is priced", full, nil, true, false, func(got llm.Usage) bool { return got == u }},
		{"cut short by an error: counted", full[:2], llm.Errorf(llm.KindModelError, "boom"), true, true,
			func(got llm.Usage) bool { return got.InputTokens > 0 && got.OutputTokens > 0 }},
		{"closed early by the client: counted", full[:2], nil, false, true,
			func(got llm.Usage) bool { return got.InputTokens > 0 && got.OutputTokens > 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq("nova-micro")
			st, err := stage(t, upstream{events: tc.events, err: tc.err}).Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var meta llm.Event
			for n := 0; tc.readAll || n < 2; n++ {
				ev, err := st.Recv()
				if err != nil {
					if !errors.Is(err, io.EOF) && tc.err == nil {
						t.Fatal(err)
					}
					break
				}
				if ev.Type == llm.EventMetadata {
					meta = ev
				}
			}
			st.Close()
			b := req.Meta.Bill
			if b.Estimated != tc.wantEstimated || !tc.wantUsage(b.Usage) || b.Cost <= 0 || b.Baseline <= 0 {
				t.Errorf("bill %+v", b)
			}
			if meta.Usage != nil && (meta.Cost != b.Cost || meta.BaselineCost != b.Baseline) {
				t.Errorf("metadata cost %s/%s, bill %s/%s", meta.Cost, meta.BaselineCost, b.Cost, b.Baseline)
			}
		})
	}
}
