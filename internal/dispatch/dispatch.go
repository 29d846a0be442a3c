// Package dispatch is the end of Penny's chain: it resolves the model a
// request is for in the catalog, checks that the model can do what is
// asked, and calls the provider that serves it with the upstream model id.
package dispatch

import (
	"context"
	"errors"
	"time"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// Options configure the dispatcher.
type Options struct {
	Catalog *catalog.Catalog
	// Providers by name ("bedrock", or an OpenAI-compatible upstream's name).
	Providers map[string]llm.Invoker
	// Simulate, if set, answers every model instead of Providers.
	Simulate llm.Invoker
	// Region picks cross-region inference profiles for catalog aliases.
	Region string
	// Now is the clock of lifecycle checks (default time.Now).
	Now func() time.Time
	// Defer, if set, takes requests of mode batch (deferred requests and
	// batch lines) once they are resolved, instead of a provider: it
	// queues them for a Bedrock batch job (package batch). Without it,
	// such requests are refused.
	Defer Deferrer
}

// Deferrer queues a resolved request for batch inference and returns an
// error of kind llm.KindDeferred when it did, any other error when it
// refuses it.
type Deferrer interface {
	Defer(ctx context.Context, req *llm.Request) error
}

// New returns the dispatcher. On return from its methods req.Model is
// the catalog id of the model called (when the catalog knows it),
// req.Meta.Provider names the provider and req.Meta.Mode is set.
func New(o Options) (llm.Invoker, error) {
	if o.Catalog == nil {
		return nil, errors.New("dispatch: a catalog is required")
	}
	if o.Simulate == nil && len(o.Providers) == 0 {
		return nil, errors.New("dispatch: no provider is configured")
	}
	return &dispatcher{cat: o.Catalog, providers: o.Providers, simulate: o.Simulate, region: o.Region, now: o.Now, deferrer: o.Defer}, nil
}

type dispatcher struct {
	cat       *catalog.Catalog
	providers map[string]llm.Invoker
	// simulate, if set, answers every model.
	simulate llm.Invoker
	region   string
	// now is the clock lifecycle checks use; nil is time.Now.
	now      func() time.Time
	deferrer Deferrer
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
	if req.Meta.Mode == llm.ModeBatch && t.Model == nil {
		return nil, nil, llm.Errorf(llm.KindUnsupported, "%s is not a catalog model: a batch job runs one model (not a prompt router)", req.Model)
	}
	if req.Meta.Mode == llm.ModeBatch && t.Mode == llm.ModeProvisioned {
		return nil, nil, llm.Errorf(llm.KindUnsupported, "%s is a provisioned model: Bedrock batch inference does not run on provisioned models", req.Model)
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
	case req.Native != nil && req.Native.Family != "" && req.Native.Family != m.Vendor:
		return llm.Errorf(llm.KindValidation, "the request body is a native %s body, but the request was routed to %s, a %s model: "+
			"Penny passes native bodies to Bedrock unchanged and cannot translate them; call a %s model, or use the Converse API, which every model takes",
			req.Native.Family, m.ID, m.Vendor, req.Native.Family)
	case req.Native != nil:
		// A native body is the model's own: Bedrock checks it.
		return nil
	case req.Embed != nil && !c.Embeddings:
		return llm.Errorf(llm.KindValidation, "model %s does not make embeddings; use an embedding model (see `penny models`)", m.ID)
	case req.Embed != nil:
		return nil
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
	if req.Meta.Mode == llm.ModeBatch {
		return nil, d.deferRequest(ctx, req)
	}
	return p.Invoke(ctx, up)
}

// deferRequest hands a resolved request of mode batch to the Deferrer.
func (d *dispatcher) deferRequest(ctx context.Context, req *llm.Request) error {
	if d.deferrer == nil {
		return llm.Errorf(llm.KindUnsupported, "batch inference is not configured (batch.s3_uri and batch.role_arn), so requests cannot be deferred")
	}
	return d.deferrer.Defer(ctx, req)
}

func (d *dispatcher) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	p, up, err := d.prepare(req)
	if err != nil {
		return nil, err
	}
	if req.Meta.Mode == llm.ModeBatch {
		return nil, llm.Errorf(llm.KindValidation, "a deferred request cannot stream; send it without stream")
	}
	return p.Stream(ctx, up)
}
