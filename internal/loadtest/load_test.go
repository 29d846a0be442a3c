package loadtest

import (
	"context"
	"testing"
	"time"
)

func TestRunAgainstStub(t *testing.T) {
	stub, err := StartStub()
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	client := NewClient(4)
	for _, tc := range []struct {
		name string
		l    Load
	}{
		{"converse paced", Load{URL: stub.URL() + "/model/m/converse", Body: []byte(`{}`), Concurrency: 4, Requests: 200, Rate: 2000, Warmup: 10}},
		{"stream closed-loop", Load{URL: stub.URL() + "/model/m/converse-stream", Body: []byte(`{}`), Concurrency: 4, Requests: 200, Warmup: 10}},
		{"openai", Load{URL: stub.URL() + "/v1/chat/completions", Body: []byte(`{"stream":true}`), Concurrency: 4, Requests: 200, Warmup: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(context.Background(), client, tc.l)
			if r.Requests != 200 || r.Errors != 0 || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max || r.Throughput <= 0 {
				t.Errorf("result %s (first error %q)", r, r.FirstError)
			}
			if tc.l.Rate > 0 && r.Duration < 90*time.Millisecond {
				t.Errorf("paced at 2000/s, 200 requests took only %s", r.Duration)
			}
		})
	}
	bad := Run(context.Background(), client, Load{URL: stub.URL() + "/nope", Concurrency: 2, Requests: 10, Warmup: -1})
	if bad.Errors != 10 || bad.FirstError == "" {
		t.Errorf("errors not counted: %s", bad)
	}
}
