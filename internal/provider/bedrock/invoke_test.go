package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/penny-gateway/penny/internal/bedrocktest"
	"github.com/penny-gateway/penny/internal/hashvec"
	"github.com/penny-gateway/penny/internal/llm"
)

func TestEmbeddings(t *testing.T) {
	isolate(t)
	srv := bedrocktest.New(t)
	p := newProvider(t, srv, 0)
	texts := []string{"reset my password", "how do I reset the password", "quarterly revenue"}
	for _, tc := range []struct {
		model, purpose string
		dims           int
		calls          int
	}{
		{"amazon.titan-embed-text-v2:0", "", 256, 3}, // Titan embeds one text per call
		{"cohere.embed-english-v3", "search_query", 0, 1},
	} {
		t.Run(tc.model, func(t *testing.T) {
			before := srv.CallCount()
			resp, err := p.Invoke(context.Background(), &llm.Request{Model: tc.model, ServiceTier: llm.TierFlex,
				Embed: &llm.EmbedInput{Texts: texts, Dimensions: tc.dims, Purpose: tc.purpose}})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.dims
			if want == 0 {
				want = 1024
			}
			if len(resp.Embeddings) != 3 || len(resp.Embeddings[0]) != want || resp.Usage.InputTokens == 0 {
				t.Fatalf("%d vectors of %d, usage %+v", len(resp.Embeddings), len(resp.Embeddings[0]), resp.Usage)
			}
			// Vectors come back in input order.
			if hashvec.Cosine(resp.Embeddings[0], hashvec.Vector(texts[0], want)) < 0.999 {
				t.Error("vectors out of order")
			}
			if n := srv.CallCount() - before; n != tc.calls || resp.ServiceTier != llm.TierFlex {
				t.Errorf("%d calls, tier %q", n, resp.ServiceTier)
			}
			c, _ := srv.LastCall()
			if c.Operation != bedrocktest.OpInvokeModel || !strings.HasPrefix(c.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
				t.Errorf("call %s, auth %q", c.Operation, c.Header.Get("Authorization"))
			}
			if tc.purpose != "" && !strings.Contains(string(c.Body), `"input_type":"search_query"`) {
				t.Errorf("body %s", c.Body)
			}
		})
	}
	// Bedrock's validation errors come back typed.
	_, err := p.Invoke(context.Background(), &llm.Request{Model: "amazon.titan-embed-text-v2:0", Embed: &llm.EmbedInput{Texts: []string{"x"}, Dimensions: 7}})
	if llm.KindOf(err) != llm.KindValidation {
		t.Errorf("bad dimensions: %v", err)
	}
	if _, err := p.Invoke(context.Background(), &llm.Request{Model: "amazon.nova-micro-v1:0", Embed: &llm.EmbedInput{Texts: []string{"x"}}}); llm.KindOf(err) != llm.KindUnsupported {
		t.Errorf("unknown embeddings family: %v", err)
	}
}

func TestNativePassThrough(t *testing.T) {
	isolate(t)
	srv := bedrocktest.New(t)
	p := newProvider(t, srv, 0)
	body := []byte(`{"prompt":"one two three four five six","max_gen_len":100}`)
	resp, err := p.Invoke(context.Background(), &llm.Request{Model: "meta.llama3-1-8b-instruct-v1:0", Native: &llm.NativeBody{Body: body}})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Generation string }
	json.Unmarshal(resp.Native.Body, &out)
	if out.Generation != "echo: one two three four five six" || resp.Usage.InputTokens == 0 || resp.Usage.OutputTokens == 0 {
		t.Errorf("answer %s usage %+v", resp.Native.Body, resp.Usage)
	}
	if c, _ := srv.LastCall(); string(c.Body) != string(body) {
		t.Errorf("body changed on the way: %s", c.Body)
	}

	st, err := p.Stream(context.Background(), &llm.Request{Model: "meta.llama3-1-8b-instruct-v1:0", Native: &llm.NativeBody{Body: body}})
	if err != nil {
		t.Fatal(err)
	}
	var chunks int
	var usage *llm.Usage
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case llm.EventNative:
			chunks++
		case llm.EventMetadata:
			usage = ev.Usage
		}
	}
	st.Close()
	if chunks < 2 || usage == nil || usage.InputTokens == 0 || usage.OutputTokens == 0 {
		t.Errorf("%d chunks, usage %+v", chunks, usage)
	}

	// A mid-stream exception is an error of Recv.
	srv.FailStreamAfter(1, "modelStreamErrorException", "boom")
	st, err = p.Stream(context.Background(), &llm.Request{Model: "meta.llama3-1-8b-instruct-v1:0", Native: &llm.NativeBody{Body: body}})
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for {
		if _, last = st.Recv(); last != nil {
			break
		}
	}
	st.Close()
	if errors.Is(last, io.EOF) || llm.KindOf(last) != llm.KindModelError {
		t.Errorf("mid-stream exception: %v", last)
	}
}
