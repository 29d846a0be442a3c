package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
	"github.com/penny-gateway/penny/internal/responses"
	"github.com/penny-gateway/penny/internal/responseswire"
)

// handleResponses serves POST /v1/responses, OpenAI's Responses API,
// streamed or not.
func (s *Server) handleResponses(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "responses", &responsesAPI{})
}

// responsesAPI is the Responses API frontend. Its answers are stored
// (unless the request says store: false) before they are sent, so that a
// client holding a response can continue from it at once.
type responsesAPI struct {
	create *responseswire.Create
	// conv is the conversation the request continues, if any.
	conv []responseswire.Item
	// stored says whether the answer is to be stored.
	stored bool
}

func (a *responsesAPI) start(c *call, r *http.Request) {}

// decode reads the request and, for previous_response_id, the stored
// conversation of the caller's tenant that it continues.
func (a *responsesAPI) decode(c *call, r *http.Request, body []byte) (*llm.Request, error) {
	cr, err := responseswire.Decode(body)
	if err != nil {
		c.requested = sniffModel(body)
		return nil, err
	}
	a.create = cr
	c.requested = cr.Wire.Model // for the ledger, should the rest fail
	if id := cr.Wire.PreviousResponseID; id != "" {
		prev, err := c.s.storedResponse(r.Context(), c.req.Meta.Tenant, id)
		var e *llm.Error
		if errors.As(err, &e) && e.Kind == llm.KindNotFound {
			e.Param, e.Code, e.Message = "previous_response_id", "previous_response_not_found", "previous_response_id: "+e.Message
		}
		if err != nil {
			return nil, err
		}
		if a.conv, err = responseswire.ParseItems(prev.Conversation()); err != nil {
			return nil, err
		}
	}
	req, err := cr.Request(a.conv)
	if err != nil {
		return nil, err
	}
	a.stored = cr.Store && c.s.opts.Responses != nil
	cr.AssignIDs(c.req.Meta.RequestID)
	return req, nil
}

func (a *responsesAPI) fail(c *call, w http.ResponseWriter, err error) { c.openaiError(w, err) }

// responseID is the id of the call's response: its request id, prefixed.
func responseID(c *call) string { return "resp_" + c.req.Meta.RequestID }

func (a *responsesAPI) answer(c *call, w http.ResponseWriter, resp *llm.Response) {
	out := a.create.Start(responseID(c), c.received.Unix(), c.req.Model, a.stored)
	out.Complete(resp, c.req.Meta.RequestID, c.s.opts.Now().Unix())
	a.save(c, out)
	c.setHeaders(w)
	c.setCostHeaders(w.Header())
	writeJSON(w, http.StatusOK, out)
}

// stream answers with the Responses API's typed server-sent events.
// Errors before the first event got a JSON error response (serve); later
// ones an error event and response.failed (the HTTP status already sent,
// 200, is what the ledger records).
func (a *responsesAPI) stream(c *call, w http.ResponseWriter, p *eventPump, first llm.Event) error {
	sw := startSSE(c, w)
	enc := responseswire.NewStreamEncoder(a.create.Start(responseID(c), c.received.Unix(), c.req.Model, a.stored), c.req.Meta.RequestID)
	write := func(evs []responseswire.Event) {
		for _, e := range evs {
			sw.event(e.Type, e.Data)
		}
	}
	err := c.relay(p, first, func(ev llm.Event) {
		if m := c.invokedModel(ev); m != "" {
			enc.Response.Model = m // the model a prompt router chose
		}
		write(enc.Encode(ev))
	}, sw.flush)
	switch {
	case errors.Is(err, io.EOF):
		out, evs := enc.Done(c.s.opts.Now().Unix())
		a.save(c, out)
		write(evs)
		sw.flush()
	case llm.KindOf(err) != llm.KindCanceled:
		_, body := openaiwire.ErrorFor(err)
		e := body.Error
		write(enc.Fail(e.Type, deref(e.Code), e.Message, deref(e.Param)))
		sw.flush()
	}
	p.stop() // settles an early end's bill before the trailers
	c.setCostHeaders(w.Header())
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// save stores a finished response when it is to be stored. A failure is
// logged and the answer says store: false, which is then the truth.
func (a *responsesAPI) save(c *call, out *responseswire.Response) {
	if !a.stored {
		return
	}
	err := c.s.saveResponse(c, out, append(append([]responseswire.Item(nil), a.conv...), a.create.Input...))
	if err != nil {
		c.s.log.Error("storing a response failed; answered with store: false", "request_id", c.req.Meta.RequestID, "err", err)
		out.Store = false
	}
}

// saveResponse puts out, generated from input, in the store for the
// call's tenant, to expire after the retention period. It does not use the
// request's context: a client that has gone away still has a response.
func (s *Server) saveResponse(c *call, out *responseswire.Response, input []responseswire.Item) error {
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	in, err := responseswire.Items(input)
	if err != nil {
		return err
	}
	output, err := responseswire.Items(out.Output)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.opts.Responses.Put(ctx, &responses.Stored{
		ID: out.ID, Tenant: c.req.Meta.Tenant, Created: c.received, Expires: c.received.Add(s.opts.ResponseRetention),
		Response: body, Input: in, Output: output,
	})
}

// storedResponse returns the tenant's stored response id. Unknown,
// expired, deleted and other tenants' responses are all a KindNotFound
// error, so that nothing is learnt of another tenant's ids.
func (s *Server) storedResponse(ctx context.Context, tenant, id string) (*responses.Stored, error) {
	if s.opts.Responses == nil {
		return nil, responseNotFound(id, false)
	}
	st, err := s.opts.Responses.Get(ctx, tenant, id)
	if errors.Is(err, responses.ErrNotFound) {
		return nil, responseNotFound(id, true)
	}
	if err != nil {
		return nil, llm.Errorf(llm.KindInternal, "reading stored response %s: %w", id, err)
	}
	return st, nil
}

// responseNotFound is the error for a response id the caller cannot have;
// stores says whether this Penny stores responses at all.
func responseNotFound(id string, stores bool) *llm.Error {
	why := "it was not stored (store: false), has expired or was deleted"
	if !stores {
		why = "this Penny stores no responses"
	}
	return &llm.Error{Kind: llm.KindNotFound, Code: "response_not_found", Message: fmt.Sprintf("no response %q: %s", id, why)}
}
