package servicetier_test

import (
	"context"
	"testing"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/servicetier"
)

// upstream records the tiers it was asked for, and throttles Flex when
// told to.
type upstream struct {
	tiers        []llm.ServiceTier
	throttleFlex bool
}

func (u *upstream) call(req *llm.Request) error {
	u.tiers = append(u.tiers, req.ServiceTier)
	if u.throttleFlex && req.ServiceTier == llm.TierFlex {
		return llm.Errorf(llm.KindThrottled, "Too many requests at the flex tier")
	}
	return nil
}

func (u *upstream) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	if err := u.call(req); err != nil {
		return nil, err
	}
	return &llm.Response{ServiceTier: req.ServiceTier}, nil
}

func (u *upstream) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	if err := u.call(req); err != nil {
		return nil, err
	}
	return &llm.SliceStream{}, nil
}

func TestStage(t *testing.T) {
	policies := map[string]servicetier.Policy{
		"priority": {Tier: llm.TierPriority},
		"tolerant": {Tolerant: true},
		"flexed":   {Tier: llm.TierFlex},
	}
	byRoute := func(req *llm.Request) (servicetier.Policy, bool) {
		p, ok := policies[req.Meta.Route]
		return p, ok
	}
	for _, tc := range []struct {
		name, route, model string
		asked              llm.ServiceTier
		throttleFlex       bool
		want               []llm.ServiceTier // tiers the upstream saw
		attempts           int
		err                bool
	}{
		{"the route's tier", "priority", "nova-pro", "", false, []llm.ServiceTier{llm.TierPriority}, 0, false},
		{"the client's choice wins", "priority", "nova-pro", llm.TierDefault, false, []llm.ServiceTier{llm.TierDefault}, 0, false},
		{"no route, no tier", "", "nova-pro", "", false, []llm.ServiceTier{""}, 0, false},
		{"tolerant goes to flex", "tolerant", "nova-pro", "", false, []llm.ServiceTier{llm.TierFlex}, 0, false},
		{"tolerant stays put on a model without flex", "tolerant", "nova-micro", "", false, []llm.ServiceTier{""}, 0, false},
		{"flex throttled falls back once", "tolerant", "nova-pro", "", true, []llm.ServiceTier{llm.TierFlex, llm.TierDefault}, 1, false},
		{"the route's own flex falls back too", "flexed", "nova-pro", "", true, []llm.ServiceTier{llm.TierFlex, llm.TierDefault}, 1, false},
		{"a client's flex is the client's", "tolerant", "nova-pro", llm.TierFlex, true, []llm.ServiceTier{llm.TierFlex}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				up := &upstream{throttleFlex: tc.throttleFlex}
				inv := servicetier.Stage(servicetier.Options{Catalog: catalog.MustBuiltin(), PolicyFor: byRoute})(up)
				req := &llm.Request{Model: tc.model, ServiceTier: tc.asked, Meta: llm.Meta{Route: tc.route}}
				var err error
				if stream {
					_, err = inv.Stream(context.Background(), req)
				} else {
					_, err = inv.Invoke(context.Background(), req)
				}
				if (err != nil) != tc.err || len(up.tiers) != len(tc.want) || len(req.Meta.Attempts) != tc.attempts {
					t.Fatalf("stream %v: err %v, tiers %v, attempts %v", stream, err, up.tiers, req.Meta.Attempts)
				}
				for i := range tc.want {
					if up.tiers[i] != tc.want[i] {
						t.Errorf("stream %v: tiers %v, want %v", stream, up.tiers, tc.want)
					}
				}
			}
		})
	}
}
