package catalog

import (
	"strings"

	"github.com/penny-gateway/penny/internal/llm"
)

// TargetKind says what form of model id a client used.
type TargetKind string

const (
	KindCatalog                  TargetKind = "catalog"                       // a Penny id or alias
	KindBase                     TargetKind = "base-model"                    // a Bedrock base model id or ARN
	KindInferenceProfile         TargetKind = "inference-profile"             // a cross-region inference profile id or ARN
	KindApplicationProfile       TargetKind = "application-inference-profile" // an application inference profile ARN
	KindProvisioned              TargetKind = "provisioned-model"             // a Provisioned Throughput ARN
	KindPromptRouter             TargetKind = "prompt-router"                 // a Bedrock Intelligent Prompt Routing ARN
	geoUS, geoEU, geoAPAC, geoJP            = "us", "eu", "apac", "jp"
	geoGlobal                               = "global"
)

// Target is a resolved model id: the catalog model that prices it and the id
// to send upstream.
type Target struct {
	// Model prices the request. It is nil for a prompt router, whose
	// choice is only known from the answer (InvokedModel).
	Model *Model
	// UpstreamID is the id to send to Bedrock: the client's own id when it
	// named a Bedrock resource, else the model's base id.
	UpstreamID string
	Kind       TargetKind
	// Mode is the consumption mode the id implies (provisioned-model ARNs
	// are Provisioned Throughput).
	Mode llm.Mode
	// Global is true when the id names a global. cross-region inference
	// profile, which some models price apart (see Terms.Global).
	Global bool
}

// Resolve maps any model id a client may send to a Target: a Penny id or
// alias ("nova-micro"), a Bedrock base id ("amazon.nova-micro-v1:0"), a
// cross-region inference profile id ("us.amazon.nova-micro-v1:0"), their
// ARNs, or an application-inference-profile or provisioned-model ARN that
// the catalog lists as an alias. Prompt-router ARNs resolve with a nil Model.
// An unknown id is an *llm.Error of kind KindNotFound.
func (c *Catalog) Resolve(id string) (Target, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return Target{}, llm.Errorf(llm.KindValidation, "model is required")
	}
	if m, ok := c.byName[strings.ToLower(id)]; ok {
		t := Target{Model: m, UpstreamID: m.BedrockID, Kind: KindCatalog, Mode: llm.ModeOnDemand}
		switch {
		case strings.HasPrefix(id, "arn:"):
			t.Kind, t.Mode = aliasKind(id)
			t.UpstreamID = id
		case strings.EqualFold(id, m.BedrockID):
			t.Kind, t.UpstreamID = KindBase, id
		case isProfileID(id, m):
			t.Kind, t.UpstreamID = KindInferenceProfile, id
			t.Global = IsGlobalProfile(id)
		}
		return t, nil
	}
	if strings.HasPrefix(id, "arn:") {
		return c.resolveARN(id)
	}
	return Target{}, llm.Errorf(llm.KindNotFound,
		"model %q is not in Penny's catalog: use a catalog id or alias (see `penny models` or GET /v1/models), a Bedrock model id, or add it to the catalog file", id)
}

// IsGlobalProfile reports whether id, a model id or inference-profile ARN,
// names a global. cross-region inference profile.
func IsGlobalProfile(id string) bool {
	if strings.HasPrefix(id, "arn:") {
		_, id, _ = strings.Cut(id, "/")
	}
	return len(id) > len(geoGlobal) && strings.EqualFold(id[:len(geoGlobal)+1], geoGlobal+".")
}

func isProfileID(id string, m *Model) bool {
	geo, rest, ok := strings.Cut(id, ".")
	if !ok || !strings.EqualFold(rest, m.BedrockID) {
		return false
	}
	for _, g := range m.InferenceProfiles {
		if strings.EqualFold(g, geo) {
			return true
		}
	}
	return false
}

// resolveARN handles arn:PARTITION:bedrock:REGION:ACCOUNT:TYPE/ID.
func (c *Catalog) resolveARN(arn string) (Target, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "bedrock" {
		return Target{}, llm.Errorf(llm.KindValidation, "model %q is not a Bedrock ARN", arn)
	}
	typ, rid, ok := strings.Cut(parts[5], "/")
	if !ok || rid == "" {
		return Target{}, llm.Errorf(llm.KindValidation, "model ARN %q has no resource id", arn)
	}
	switch typ {
	case "foundation-model":
		if m, ok := c.byName[strings.ToLower(rid)]; ok {
			return Target{Model: m, UpstreamID: arn, Kind: KindBase, Mode: llm.ModeOnDemand}, nil
		}
	case "inference-profile":
		if m, ok := c.byName[strings.ToLower(rid)]; ok {
			return Target{Model: m, UpstreamID: arn, Kind: KindInferenceProfile, Mode: llm.ModeOnDemand,
				Global: IsGlobalProfile(rid)}, nil
		}
	case "prompt-router", "default-prompt-router":
		return Target{UpstreamID: arn, Kind: KindPromptRouter, Mode: llm.ModeOnDemand}, nil
	case "application-inference-profile", "provisioned-model":
		return Target{}, llm.Errorf(llm.KindNotFound,
			"%s ARN %q is not in Penny's catalog: add it to the aliases of the model it serves in the catalog file, so Penny can price it", typ, arn)
	case "prompt":
		return Target{}, llm.Errorf(llm.KindUnsupported, "Bedrock prompt-management ARNs are not supported as a model id yet: %q", arn)
	}
	return Target{}, llm.Errorf(llm.KindNotFound, "model ARN %q names no model in Penny's catalog", arn)
}

// aliasKind classifies an ARN the catalog lists as an alias: an
// application inference profile or a provisioned model.
func aliasKind(id string) (TargetKind, llm.Mode) {
	switch {
	case strings.Contains(id, ":provisioned-model/"):
		return KindProvisioned, llm.ModeProvisioned
	case strings.Contains(id, ":application-inference-profile/"):
		return KindApplicationProfile, llm.ModeOnDemand
	}
	return KindCatalog, llm.ModeOnDemand
}

// UpstreamFor returns the id to call for m in region when a client named
// it by catalog id or alias: the region's geographic cross-region inference
// profile (Tokyo and Osaka prefer jp., then apac.) when the model is only
// served on demand through one, else the base id. It picks global. only for
// a model with no other profile: global sends data outside the geography.
func (m *Model) UpstreamFor(region string) string {
	if !m.RequiresProfile || m.BedrockID == "" {
		return m.BedrockID
	}
	geos := []string{geoUS}
	switch {
	case strings.HasPrefix(region, "eu-"):
		geos = []string{geoEU}
	case strings.HasPrefix(region, "ap-northeast-1"), strings.HasPrefix(region, "ap-northeast-3"):
		geos = []string{geoJP, geoAPAC}
	case strings.HasPrefix(region, "ap-"):
		geos = []string{geoAPAC}
	}
	for _, geo := range geos {
		for _, g := range m.InferenceProfiles {
			if g == geo {
				return geo + "." + m.BedrockID
			}
		}
	}
	for _, g := range m.InferenceProfiles {
		if g != geoGlobal {
			return g + "." + m.BedrockID
		}
	}
	if len(m.InferenceProfiles) > 0 {
		return m.InferenceProfiles[0] + "." + m.BedrockID
	}
	return m.BedrockID
}

// CanonicalID returns the catalog id of a model name, for configuration
// that must name a priced catalog model (route tiers and baselines).
func (c *Catalog) CanonicalID(name string) (string, error) {
	t, err := c.Resolve(name)
	if err != nil {
		return "", err
	}
	if t.Model == nil {
		return "", llm.Errorf(llm.KindValidation, "%q is a prompt router, not a model: name the models it chooses between instead", name)
	}
	return t.Model.ID, nil
}

// WithAliases returns a copy of c in which each alias (a key of aliases:
// an application-inference-profile or provisioned-model ARN) names the
// model whose id or alias is its value, e.g. a configured Provisioned
// Throughput ARN and the base model it serves. c is not changed. An alias
// already naming another model, or a value naming no model, is an error.
func (c *Catalog) WithAliases(aliases map[string]string) (*Catalog, error) {
	if len(aliases) == 0 {
		return c, nil
	}
	cp := *c
	cp.byName = make(map[string]*Model, len(c.byName)+len(aliases))
	for k, v := range c.byName {
		cp.byName[k] = v
	}
	for alias, id := range aliases {
		m, ok := c.byName[strings.ToLower(id)]
		if !ok {
			return nil, llm.Errorf(llm.KindNotFound, "%s: model %q is not in the catalog", alias, id)
		}
		if old, ok := cp.byName[strings.ToLower(alias)]; ok && old != m {
			return nil, llm.Errorf(llm.KindValidation, "%s already names model %s in the catalog", alias, old.ID)
		}
		cp.byName[strings.ToLower(alias)] = m
	}
	return &cp, nil
}
