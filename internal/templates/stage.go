package templates

import (
	"context"

	"github.com/penny-gateway/penny/internal/llm"
)

// TagKey is the request tag (OpenAI metadata key) that names a template.
const TagKey = "penny_template"

// Stage returns the template stage. A request whose Meta.Tags has TagKey
// is expanded: the template is rendered with the request's other tags as
// variables; its system prompt goes before the request's, its few-shot
// examples before the request's messages and its user message after them
// (turns of the same role in a row are merged, as Bedrock needs them to
// alternate); its max_tokens is used when the request sends none. The
// variables are then removed from the tags and TagKey is set to the
// "name@version" used, so the ledger records the exact version.
//
// Put it before routing, so that routing rules see the rendered prompt.
// Requests without TagKey pass through untouched. A nil store rejects
// requests that name a template with KindNotFound.
func Stage(store *Store) llm.Stage {
	return func(next llm.Invoker) llm.Invoker { return &stage{s: store, next: next} }
}

type stage struct {
	s    *Store
	next llm.Invoker
}

// Expand applies the template req names, if any, to req as Stage does.
// It replaces req.System, req.Messages and req.Meta.Tags rather than
// writing into them.
func (s *Store) Expand(req *llm.Request) error {
	ref, ok := req.Meta.Tags[TagKey]
	if !ok {
		return nil
	}
	vars := make(map[string]string, len(req.Meta.Tags))
	for k, v := range req.Meta.Tags {
		if k != TagKey {
			vars[k] = v
		}
	}
	r, err := s.Render(ref, vars)
	if err != nil {
		return err
	}
	if len(r.System) > 0 {
		req.System = append(append([]llm.SystemBlock(nil), r.System...), req.System...)
	}
	msgs := make([]llm.Message, 0, len(r.Messages)+len(req.Messages))
	for _, m := range r.Messages[:len(r.Messages)-1] {
		msgs = appendTurn(msgs, m)
	}
	for _, m := range req.Messages {
		msgs = appendTurn(msgs, m)
	}
	req.Messages = appendTurn(msgs, r.Messages[len(r.Messages)-1])
	if req.Config.MaxTokens == nil && r.MaxTokens != nil {
		req.Config.MaxTokens = r.MaxTokens
	}
	tags := make(map[string]string, len(req.Meta.Tags))
	for k, v := range req.Meta.Tags {
		tags[k] = v
	}
	for _, v := range r.Vars {
		delete(tags, v)
	}
	tags[TagKey] = r.Ref
	req.Meta.Tags = tags
	return nil
}

// appendTurn appends m, merging it into the last message when both have
// the same role; the merged content is a new slice.
func appendTurn(msgs []llm.Message, m llm.Message) []llm.Message {
	if n := len(msgs); n > 0 && msgs[n-1].Role == m.Role {
		content := make([]llm.Block, 0, len(msgs[n-1].Content)+len(m.Content))
		content = append(append(content, msgs[n-1].Content...), m.Content...)
		msgs[n-1].Content = content
		return msgs
	}
	return append(msgs, m)
}

func (st *stage) Invoke(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := st.s.Expand(req); err != nil {
		return nil, err
	}
	return st.next.Invoke(ctx, req)
}

func (st *stage) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if err := st.s.Expand(req); err != nil {
		return nil, err
	}
	return st.next.Stream(ctx, req)
}
