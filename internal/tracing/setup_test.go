package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSetupOff(t *testing.T) {
	tp, shutdown, err := Setup(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("tracing is on without an endpoint")
	}
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := Stage(tp)(&upstream{}).(*invoker); ok {
		t.Error("the stage wraps the chain when tracing is off")
	}
}

func TestSetupInvalid(t *testing.T) {
	for _, o := range []Options{
		{Endpoint: "http://127.0.0.1:4318", SampleRatio: 1.5},
		{Endpoint: "http://127.0.0.1:4318", SampleRatio: -0.1},
		{Endpoint: "grpc://127.0.0.1:4317"},
		{Endpoint: "http:///v1/traces"},
	} {
		if _, _, err := Setup(context.Background(), o); err == nil {
			t.Errorf("Setup(%+v) did not fail", o)
		}
	}
}

// collector is a fake OTLP/HTTP receiver that records what it is sent.
type collector struct {
	mu   sync.Mutex
	reqs []received
}

type received struct {
	method, path, contentType, auth string
	size                            int
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.reqs = append(c.reqs, received{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), len(body)})
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (c *collector) received() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.reqs...)
}

func TestSetupExports(t *testing.T) {
	for _, tc := range []struct {
		name     string
		endpoint func(url string) string
		insecure bool
	}{
		{"base url", func(u string) string { return u }, false},
		{"base url with slash", func(u string) string { return u + "/" }, false},
		{"full url", func(u string) string { return u + "/v1/traces" }, false},
		{"host and port", func(u string) string { return strings.TrimPrefix(u, "http://") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{}
			srv := httptest.NewServer(c) // listens on 127.0.0.1
			defer srv.Close()
			ctx := context.Background()
			tp, shutdown, err := Setup(ctx, Options{
				Endpoint: tc.endpoint(srv.URL),
				Insecure: tc.insecure,
				Headers:  map[string]string{"Authorization": "Bearer t0ken"},
			})
			if err != nil {
				t.Fatal(err)
			}
			inv := Stage(tp)(&upstream{})
			if _, err := inv.Invoke(ctx, request()); err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := shutdown(sctx); err != nil { // flushes the batch
				t.Fatal(err)
			}
			got := c.received()
			if len(got) == 0 {
				t.Fatal("the collector received nothing")
			}
			r := got[0]
			if r.method != http.MethodPost || r.path != "/v1/traces" || r.contentType != "application/x-protobuf" || r.auth != "Bearer t0ken" || r.size == 0 {
				t.Errorf("collector received %+v, want a protobuf POST to /v1/traces with the header", r)
			}
		})
	}
}

func TestSetupSampleRatio(t *testing.T) {
	tp, shutdown, err := Setup(context.Background(), Options{Endpoint: "http://127.0.0.1:1", SampleRatio: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	sampled := 0
	for range 100 {
		_, span := tp.Tracer("test").Start(context.Background(), "x")
		if span.IsRecording() {
			sampled++
		}
		span.End()
	}
	if sampled > 0 {
		t.Errorf("%d of 100 spans sampled under a ratio of 1e-12", sampled)
	}
}
