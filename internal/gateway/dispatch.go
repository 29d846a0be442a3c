package gateway

import (
	"context"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// dispatcher is the end of the chain: it resolves req.Model in the catalog,
// checks the model can do what is asked, and calls the provider that serves
// it with the upstream model id. On return req.Model is the catalog id.
type dispatcher struct {
	cat       *catalog.Catalog
	providers map[string]llm.Invoker
	// simulate, if set, answers every model.
	simulate llm.Invoker
	region   string
	// now is the clock lifecycle checks use; nil is time.Now.
	now func() time.Time
}

func (d *dispatcher) prepare(req *llm.Request) (llm.Invoker, *llm.Request, error) {
	t, err := d.cat.Resolve(req.Model)
	if err != nil {
		return nil, nil, err
	}
	up := *req
	up.Model = t.UpstreamID
	if t.Kind == catalog.KindCatalog {
		up.Model = t.Model.UpstreamFor(d.region)
	}
	if req.Meta.Mode == "" {
		req.Meta.Mode = t.Mode
	}
	providerName := "bedrock"
	if t.Model != nil {
		// Routes resolve before the dispatcher: a retired id a route maps
		// elsewhere never gets here.
		warning, err := t.Model.CheckServable(d.clock())
		if err != nil {
			return nil, nil, err
		}
		req.Meta.ModelWarning = warning
		if err := checkCapabilities(t.Model, req); err != nil {
			return nil, nil, err
		}
		req.Model = t.Model.ID
		providerName = t.Model.Provider
		if req.Meta.BaselineModel == "" {
			req.Meta.BaselineModel = req.Model
		}
	}
	req.Meta.UpstreamModel = up.Model
	if d.simulate != nil {
		req.Meta.Provider = "sim"
		return d.simulate, &up, nil
	}
	p, ok := d.providers[providerName]
	if !ok {
		return nil, nil, llm.Errorf(llm.KindUnavailable, "no upstream %q is configured for model %s", providerName, req.Model)
	}
	req.Meta.Provider = providerName
	return p, &up, nil
}

func (d *dispatcher) clock() time.Time {
	if d.now == nil {
		return time.Now()
	}
	return d.now()
}

func checkCapabilities(m *catalog.Model, req *llm.Request) error {
	c := m.Capabilities
	switch {
	case !c.Chat:
		return llm.Errorf(llm.KindValidation, "model %s does not support chat (Converse); it is a %s model", m.ID, kindName(m))
	case req.Meta.Stream && !c.Streaming:
		return llm.Errorf(llm.KindUnsupported, "model %s does not support streaming", m.ID)
	case req.Tools != nil && len(req.Tools.Tools) > 0 && !c.Tools:
		return llm.Errorf(llm.KindUnsupported, "model %s does not support tool use", m.ID)
	case !c.Images && req.HasImages():
		return llm.Errorf(llm.KindUnsupported, "model %s does not accept images; use a model with image support (see `penny models`)", m.ID)
	}
	if mt := req.Config.MaxTokens; mt != nil && m.MaxOutputTokens > 0 && *mt > m.MaxOutputTokens {
		return llm.Errorf(llm.KindValidation, "max_tokens %d exceeds model %s's limit of %d output tokens", *mt, m.ID, m.MaxOutputTokens)
	}
	return nil
}

func kindName(m *catalog.Model) string {
	if m.Capabilities.Embeddings {
		return "text-embedding"
	}
	return "non-chat"
}

func (d *dispatcher) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	p, up, err := d.prepare(req)
	if err != nil {
		return nil, err
	}
	return p.Invoke(ctx, up)
}

func (d *dispatcher) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	p, up, err := d.prepare(req)
	if err != nil {
		return nil, err
	}
	return p.Stream(ctx, up)
}
