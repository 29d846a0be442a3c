package servicetier_test

import (
	"context"
	"testing"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/servicetier"
)

type seen struct{ tier llm.ServiceTier }

func (s *seen) Invoke(_ context.Context, req *llm.Request) (*llm.Response, error) {
	s.tier = req.ServiceTier
	return &llm.Response{}, nil
}

func (s *seen) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	s.tier = req.ServiceTier
	return &llm.SliceStream{}, nil
}

func TestStage(t *testing.T) {
	byRoute := func(req *llm.Request) (llm.ServiceTier, bool) {
		if req.Meta.Route == "batchy" {
			return llm.TierFlex, true
		}
		return "", false
	}
	for _, tc := range []struct {
		name, route string
		asked, want llm.ServiceTier
	}{
		{"the route's tier", "batchy", "", llm.TierFlex},
		{"the client's choice wins", "batchy", llm.TierPriority, llm.TierPriority},
		{"no route, no tier", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				up := &seen{}
				inv := servicetier.Stage(servicetier.Options{TierFor: byRoute})(up)
				req := &llm.Request{ServiceTier: tc.asked, Meta: llm.Meta{Route: tc.route}}
				if stream {
					inv.Stream(context.Background(), req)
				} else {
					inv.Invoke(context.Background(), req)
				}
				if up.tier != tc.want {
					t.Errorf("stream %v: tier %q, want %q", stream, up.tier, tc.want)
				}
			}
		})
	}
}
