package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestMoneyString(t *testing.T) {
	cases := []struct {
		m    Money
		want string
	}{
		{0, "0.000000"},
		{1, "0.000000001"},
		{35, "0.000000035"},
		{123_000, "0.000123"},
		{12*Dollar + 500_000_000, "12.500000"},
		{-2_400_000, "-0.002400"},
	}
	for _, tc := range cases {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%d.String() = %s, want %s", tc.m, got, tc.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	base := Errorf(KindThrottled, "slow down: %w", errors.New("cause"))
	cases := []struct {
		err  error
		want ErrorKind
	}{
		{nil, ""},
		{base, KindThrottled},
		{fmt.Errorf("wrapped: %w", base), KindThrottled},
		{context.DeadlineExceeded, KindTimeout},
		{fmt.Errorf("x: %w", context.Canceled), KindCanceled},
		{errors.New("plain"), KindInternal},
	}
	for _, tc := range cases {
		if got := KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if base.Error() != "slow down: cause" || errors.Unwrap(base).Error() != "cause" {
		t.Errorf("Errorf message/cause: %q", base.Error())
	}
	if !Retryable(KindThrottled) || Retryable(KindValidation) {
		t.Error("Retryable")
	}
}

func TestCollectRoundTrip(t *testing.T) {
	resp := &Response{
		Message: Message{Role: RoleAssistant, Content: []Block{
			TextBlock("Let me check."),
			{Type: BlockToolUse, ToolUse: &ToolUse{ID: "t1", Name: "lookup", Input: json.RawMessage(`{"order":"123"}`)}},
		}},
		StopReason: StopToolUse,
		Usage:      Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 100},
		Latency:    time.Second,
		Cost:       42,
	}
	got, err := Collect(&SliceStream{Events: EventsOf(resp)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, resp) {
		t.Errorf("Collect(EventsOf(r)) = %+v, want %+v", got, resp)
	}
	boom := errors.New("boom")
	if _, err := Collect(&SliceStream{Events: EventsOf(resp)[:2], Err: boom}); !errors.Is(err, boom) {
		t.Errorf("stream error lost: %v", err)
	}
}

func TestUsage(t *testing.T) {
	u := Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 100, CacheWriteTokens: 50}
	if u.TotalInput() != 160 || u.Total() != 165 {
		t.Errorf("totals %d %d", u.TotalInput(), u.Total())
	}
	if u.Add(u) != (Usage{InputTokens: 20, OutputTokens: 10, CacheReadTokens: 200, CacheWriteTokens: 100}) {
		t.Error("Add")
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	stage := func(name string) Stage {
		return func(next Invoker) Invoker {
			return invokerFunc(func(ctx context.Context, r *Request) (*Response, error) {
				order = append(order, name)
				return next.Invoke(ctx, r)
			})
		}
	}
	end := invokerFunc(func(context.Context, *Request) (*Response, error) {
		order = append(order, "end")
		return &Response{}, nil
	})
	Chain(end, stage("a"), stage("b")).Invoke(context.Background(), &Request{})
	if fmt.Sprint(order) != "[a b end]" {
		t.Errorf("order %v", order)
	}
}

type invokerFunc func(context.Context, *Request) (*Response, error)

func (f invokerFunc) Invoke(ctx context.Context, r *Request) (*Response, error) { return f(ctx, r) }
func (f invokerFunc) Stream(ctx context.Context, r *Request) (Stream, error) {
	resp, err := f(ctx, r)
	if err != nil {
		return nil, err
	}
	return &SliceStream{Events: EventsOf(resp)}, nil
}
