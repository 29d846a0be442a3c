package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/converse"
	"github.com/penny-gateway/penny/internal/llm"
)

// Bedrock's control-plane ListInferenceProfiles and GetInferenceProfile,
// answered from the catalog: Claude Code in Bedrock mode lists the
// system-defined profiles on the runtime's base URL before its first call,
// and reports a model "not available" when the list fails or lacks it.

// inferenceProfile is an InferenceProfileSummary (and, with the same
// members, a GetInferenceProfile answer).
type inferenceProfile struct {
	ID          string         `json:"inferenceProfileId"`
	ARN         string         `json:"inferenceProfileArn"`
	Name        string         `json:"inferenceProfileName"`
	Description string         `json:"description"`
	Status      string         `json:"status"`
	Type        string         `json:"type"`
	Models      []profileModel `json:"models"`
	CreatedAt   string         `json:"createdAt"`
	UpdatedAt   string         `json:"updatedAt"`
}

type profileModel struct {
	ModelARN string `json:"modelArn"`
}

// profileDate is when Penny says its profiles were created.
const profileDate = "2025-01-01T00:00:00Z"

// geoNames label the cross-region profile prefixes.
var geoNames = map[string]string{"us": "US", "eu": "EU", "apac": "APAC", "jp": "JP", "global": "Global"}

// profiles lists the catalog's system-defined inference profiles callable
// from region: its own geography's and the global ones.
func profiles(cat *catalog.Catalog, region string) []inferenceProfile {
	geos := []string{"us", "global"}
	switch {
	case strings.HasPrefix(region, "eu-"):
		geos = []string{"eu", "global"}
	case region == "ap-northeast-1", region == "ap-northeast-3":
		geos = []string{"jp", "apac", "global"}
	case strings.HasPrefix(region, "ap-"):
		geos = []string{"apac", "global"}
	}
	var out []inferenceProfile
	for _, m := range cat.Models() {
		if m.BedrockID == "" || m.Provider != "bedrock" {
			continue
		}
		for _, g := range m.InferenceProfiles {
			if !slices.Contains(geos, g) {
				continue
			}
			id := g + "." + m.BedrockID
			out = append(out, inferenceProfile{
				ID:          id,
				ARN:         "arn:aws:bedrock:" + region + "::inference-profile/" + id,
				Name:        geoNames[g] + " " + m.Name,
				Description: "Routes requests to " + m.Name + " (served through Penny)",
				Status:      "ACTIVE",
				Type:        "SYSTEM_DEFINED",
				Models:      []profileModel{{ModelARN: "arn:aws:bedrock:" + region + "::foundation-model/" + m.BedrockID}},
				CreatedAt:   profileDate,
				UpdatedAt:   profileDate,
			})
		}
	}
	return out
}

// handleInferenceProfiles serves GET /inference-profiles?type=…&maxResults=…
// &nextToken=…: SYSTEM_DEFINED (the default) lists the catalog's
// cross-region profiles; APPLICATION lists none (application profiles are
// the account's own; the catalog knows them only as aliases).
func (s *Server) handleInferenceProfiles(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	w.Header().Set(HeaderRequestID, id)
	q := r.URL.Query()
	all := profiles(s.opts.Catalog, s.opts.Region)
	switch t := q.Get("type"); t {
	case "", "SYSTEM_DEFINED":
	case "APPLICATION":
		all = nil
	default:
		converse.WriteHTTPError(w, id, llm.Errorf(llm.KindValidation, "type: %q is not one of SYSTEM_DEFINED, APPLICATION", t))
		return
	}
	limit, start := 1000, 0
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			converse.WriteHTTPError(w, id, llm.Errorf(llm.KindValidation, "maxResults: must be 1 to 1000, got %q", v))
			return
		}
		limit = n
	}
	if v := q.Get("nextToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(all) {
			converse.WriteHTTPError(w, id, llm.Errorf(llm.KindValidation, "nextToken: %q is not a token this list gave", v))
			return
		}
		start = n
	}
	page := struct {
		Summaries []inferenceProfile `json:"inferenceProfileSummaries"`
		NextToken *string            `json:"nextToken,omitempty"`
	}{Summaries: all[start:min(start+limit, len(all))]}
	if page.Summaries == nil {
		page.Summaries = []inferenceProfile{}
	}
	if end := start + limit; end < len(all) {
		next := strconv.Itoa(end)
		page.NextToken = &next
	}
	w.Header().Set("x-amzn-RequestId", id)
	writeJSON(w, http.StatusOK, page)
}

// handleInferenceProfile serves GET /inference-profiles/{id}, by profile
// id or ARN.
func (s *Server) handleInferenceProfile(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	w.Header().Set(HeaderRequestID, id)
	want := r.PathValue("id")
	for _, p := range profiles(s.opts.Catalog, s.opts.Region) {
		if p.ID == want || p.ARN == want {
			w.Header().Set("x-amzn-RequestId", id)
			writeJSON(w, http.StatusOK, p)
			return
		}
	}
	converse.WriteHTTPError(w, id, llm.Errorf(llm.KindNotFound, "inference profile %q is not one Penny serves in %s (see GET /inference-profiles)", want, s.opts.Region))
}

func bedrockDenied(w http.ResponseWriter, _ *http.Request, err error) {
	converse.WriteHTTPError(w, w.Header().Get(HeaderRequestID), err)
}
