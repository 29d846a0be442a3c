package govern

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/llm"
)

// routerUpstream answers as a Bedrock prompt router does: the model it
// chose is named in InvokedModel.
type routerUpstream struct {
	upstream
	invoked string
}

func (u *routerUpstream) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	resp, err := u.upstream.Invoke(ctx, req)
	if resp != nil {
		resp.InvokedModel = u.invoked
	}
	return resp, err
}

// TestPromptRouterReservesDearest is the finding: with a $0.01 budget, 200
// parallel requests to a prompt router ARN were all admitted (each
// reserved $0) and spent 166 times the budget. Now each reserves at the
// dearest model the router may pick, so the overshoot stays within one
// request's estimate.
func TestPromptRouterReservesDearest(t *testing.T) {
	cat := catalog.MustBuiltin()
	const arn = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"
	models, known := cat.PromptRouterModels(arn)
	if !known || len(models) != 2 {
		t.Fatalf("router models %v", models)
	}
	heavy := models[1]
	usage := llm.Usage{InputTokens: 200, OutputTokens: 900}
	cost, _ := heavy.Cost(usage, catalog.Terms{})
	up := &routerUpstream{upstream: upstream{usage: usage, delay: 2 * time.Millisecond}, invoked: heavy.BedrockID}
	inv := Budget(BudgetOptions{Catalog: cat, Now: newClock(t0).Now})(up)
	est := (&budget{o: BudgetOptions{Catalog: cat, Counter: counter(t), MaxOutputTokens: 4096, ColdOutputTokens: 1024,
		OutputQuantile: 0.95, OutputSamples: 20}, stats: newOutputStats(10)}).estimate(request(arn, prompt, 0)).est
	limit := est * 11 / 2 // room for five and a half estimates
	ctx := withKey(&keys.Key{ID: "PNYROUTER", Tenant: "acme", Limits: keys.Limits{BudgetMonth: limit}})
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if _, err := inv.Invoke(ctx, request(arn, prompt, 0)); err == nil {
				ok.Add(1)
			} else if llm.KindOf(err) != llm.KindBudget {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	spent := llm.Money(ok.Load()) * cost
	if ok.Load() == 0 || ok.Load() == 200 || spent > limit+est {
		t.Errorf("%d of 200 admitted, spent %s of %s (one estimate %s)", ok.Load(), spent, limit, est)
	}
}

// TestEstimateLearnsOutput: without max_tokens, a key whose answers are
// short reserves for short answers once 20 are known, so parallel requests
// are no longer refused while most of the budget is unspent.
func TestEstimateLearnsOutput(t *testing.T) {
	cat, _, _ := fixture(t)
	// Input as Penny counts it, so that the learned estimate is the cost.
	short := llm.Usage{InputTokens: counter(t).CountRequest(request("nova-micro", prompt, 0)), OutputTokens: 40}
	micro, _ := cat.Resolve("nova-micro")
	cost, _ := micro.Model.Cost(short, catalog.Terms{})
	run := func(warm int) (admitted int64, spentShare float64) {
		up := &upstream{usage: short, delay: 5 * time.Millisecond}
		inv := Budget(BudgetOptions{Catalog: cat, Now: newClock(t0).Now})(up)
		limit := cost * 120 // room for 120 such answers
		ctx := withKey(&keys.Key{ID: "PNYLEARN", Tenant: "acme", Limits: keys.Limits{BudgetMonth: limit}})
		for range warm {
			if _, err := inv.Invoke(ctx, request("nova-micro", prompt, 0)); err != nil {
				t.Fatal(err)
			}
		}
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				if _, err := inv.Invoke(ctx, request("nova-micro", prompt, 0)); err == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		return ok.Load(), float64(cost*llm.Money(ok.Load()+int64(warm))) / float64(limit)
	}
	coldOK, coldShare := run(0)
	warmOK, warmShare := run(20)
	if warmOK <= coldOK || warmShare < 0.9 || warmShare > 1.01 {
		t.Errorf("cold: %d admitted (%.0f %% spent); after 20 answers: %d admitted (%.0f %% spent)", coldOK, 100*coldShare, warmOK, 100*warmShare)
	}
}

// TestRetryAfterSaysWhy: refused while requests in flight hold the rest
// of the budget, a client is told to retry in seconds; refused because it
// is spent, it is told when the budget resets.
func TestRetryAfterSaysWhy(t *testing.T) {
	cat, full, est := fixture(t)
	slow := &upstream{usage: full, delay: 300 * time.Millisecond}
	inv := Budget(BudgetOptions{Catalog: cat, Now: time.Now})(slow)
	ctx := withKey(&keys.Key{ID: "PNYWAIT", Tenant: "acme", Limits: keys.Limits{BudgetMonth: est*2 + est/2}})
	for range 2 {
		if _, err := inv.Invoke(ctx, request("nova-micro", prompt, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	// Two settled at est each: est/2 is left, less than one estimate.
	_, err := inv.Invoke(ctx, request("nova-micro", prompt, 1000))
	var e *llm.Error
	if llm.KindOf(err) != llm.KindBudget || !errors.As(err, &e) || !strings.Contains(e.Message, "resets on") || e.RetryAfter < time.Hour {
		t.Fatalf("spent budget: %v (retry after %v)", err, e.RetryAfter)
	}

	// A fresh key: one request holds its estimate while the budget has
	// room for one more settled answer but not two estimates.
	ctx = withKey(&keys.Key{ID: "PNYWAIT2", Tenant: "acme", Limits: keys.Limits{BudgetMonth: est + est/2}})
	go inv.Invoke(ctx, request("nova-micro", prompt, 1000))
	time.Sleep(50 * time.Millisecond)
	_, err = inv.Invoke(ctx, request("nova-micro", prompt, 1000))
	if llm.KindOf(err) != llm.KindBudget || !errors.As(err, &e) || !strings.Contains(e.Message, "in flight") ||
		e.RetryAfter < time.Second || e.RetryAfter > time.Minute {
		t.Fatalf("held by a request in flight: %v (retry after %v)", err, e.RetryAfter)
	}
}
