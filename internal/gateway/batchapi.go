package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/openaiwire"
)

// The OpenAI Batch API: files (purpose batch) and batches of
// /v1/chat/completions requests, run on Bedrock batch jobs by package
// batch. Files and batches belong to the caller's tenant: another
// tenant's id is a 404. These endpoints call no model and are not
// recorded; every line of a batch is, once it has run.

// batchCaller is who calls a Batch API endpoint.
type batchCaller struct {
	tenant, keyID string
	tags          map[string]string
}

// batchCall authenticates a Batch API request; on failure it has
// answered. Without the batch engine it answers that batch inference is
// not configured.
func (s *Server) batchCall(w http.ResponseWriter, r *http.Request) (batchCaller, bool) {
	w.Header().Set(HeaderRequestID, newRequestID())
	if s.opts.Batch == nil || s.opts.BatchStore == nil {
		storedError(w, llm.Errorf(llm.KindUnsupported, "batch inference is not configured (batch.s3_uri and batch.role_arn, or --simulate)"))
		return batchCaller{}, false
	}
	if s.opts.Auth == nil {
		t := strings.TrimSpace(r.Header.Get(HeaderTenant))
		if t == "" {
			t = "default"
		}
		if err := s.opts.MetaLimits.CheckTenant(HeaderTenant, t); err != nil {
			storedError(w, err)
			return batchCaller{}, false
		}
		c := batchCaller{tenant: t}
		if v := r.Header.Get(HeaderTags); v != "" {
			tags, err := s.opts.MetaLimits.ParseTags(HeaderTags, v)
			if err != nil {
				storedError(w, err)
				return batchCaller{}, false
			}
			c.tags = tags
		}
		return c, true
	}
	k, err := s.opts.Auth.Authenticate(r, nil)
	if err != nil {
		openaiDenied(w, r, err)
		return batchCaller{}, false
	}
	return batchCaller{tenant: k.Tenant, keyID: k.ID, tags: maps.Clone(k.Tags)}, true
}

// batchError answers err in OpenAI's format; a missing file or batch is
// a 404 naming it.
func batchError(w http.ResponseWriter, err error, what, id string) {
	if errors.Is(err, batch.ErrNotFound) {
		err = &llm.Error{Kind: llm.KindNotFound, Code: what + "_not_found", Message: fmt.Sprintf("No such %s: %s", strings.ReplaceAll(what, "_", " "), id)}
	} else if e := (*llm.Error)(nil); !errors.As(err, &e) {
		err = llm.Errorf(llm.KindInternal, "%s %s: %w", what, id, err)
	}
	storedError(w, err)
}

// fileObject is OpenAI's File object.
type fileObject struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"`
	StatusDetails *string `json:"status_details"`
}

func fileJSON(f *batch.File) fileObject {
	return fileObject{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.Created.Unix(), Filename: f.Filename, Purpose: f.Purpose, Status: "processed"}
}

// handleUploadFile serves POST /v1/files: a multipart upload (fields
// purpose and file) of a batch input file, checked line by line with the
// chat decoder; a bad file is refused naming its first bad line.
func (s *Server) handleUploadFile(w http.ResponseWriter, r *http.Request) {
	who, ok := s.batchCall(w, r)
	if !ok {
		return
	}
	lim := s.opts.BatchLimits
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		storedError(w, openaiwire.Invalid("file", "expected a multipart/form-data upload with fields purpose and file: %v", err))
		return
	}
	var purpose, name string
	var content []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			storedError(w, tooLargeOr(err, lim.MaxBytes))
			return
		}
		switch part.FormName() {
		case "purpose":
			b, _ := io.ReadAll(io.LimitReader(part, 64))
			purpose = strings.TrimSpace(string(b))
		case "expires_after", "expires_after[anchor]", "expires_after[seconds]":
			storedError(w, openaiwire.Unsupported("expires_after", "Penny keeps batch files until they are deleted; leave it out"))
			return
		case "file":
			name = part.FileName()
			content, err = io.ReadAll(io.LimitReader(part, lim.MaxBytes+1))
			if err != nil {
				storedError(w, tooLargeOr(err, lim.MaxBytes))
				return
			}
		}
		part.Close()
	}
	switch {
	case purpose != "batch":
		storedError(w, openaiwire.Unsupported("purpose", "Penny stores files for batches only: purpose must be batch, got %q", purpose))
		return
	case content == nil:
		storedError(w, &llm.Error{Kind: llm.KindValidation, Param: "file", Code: "missing_required_parameter", Message: "file is required"})
		return
	case int64(len(content)) > lim.MaxBytes:
		storedError(w, tooLargeOr(&http.MaxBytesError{Limit: lim.MaxBytes}, lim.MaxBytes))
		return
	}
	lines, errs := batch.ValidateFile(content, lim.MaxLines)
	if len(errs) > 0 {
		e := errs[0]
		msg := e.Message
		if len(errs) > 1 {
			msg += fmt.Sprintf(" (and %d more problems; the first %d are listed in the error's message)", len(errs)-1, len(errs))
			for _, x := range errs[1:] {
				msg += "; " + x.Message
			}
		}
		storedError(w, &llm.Error{Kind: llm.KindValidation, Code: e.Code, Param: e.Param, Message: msg})
		return
	}
	f := &batch.File{ID: "file-" + newRequestID(), Tenant: who.tenant, Purpose: purpose, Filename: name,
		Bytes: int64(len(content)), Lines: lines, Created: s.opts.Now()}
	if err := s.opts.BatchStore.PutFile(r.Context(), f, content); err != nil {
		batchError(w, err, "file", f.ID)
		return
	}
	writeJSON(w, http.StatusOK, fileJSON(f))
}

func tooLargeOr(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return llm.Errorf(llm.KindTooLarge, "the file exceeds the limit of %d bytes (batch.max_file_bytes)", limit)
	}
	return openaiwire.Invalid("file", "reading the upload: %v", err)
}

// callerFile returns the caller's file {id}; on failure it has answered.
func (s *Server) callerFile(w http.ResponseWriter, r *http.Request) (*batch.File, bool) {
	who, ok := s.batchCall(w, r)
	if !ok {
		return nil, false
	}
	id := r.PathValue("id")
	f, err := s.opts.BatchStore.GetFile(r.Context(), who.tenant, id)
	if err != nil {
		batchError(w, err, "file", id)
		return nil, false
	}
	return f, true
}

// handleGetFile serves GET /v1/files/{id}.
func (s *Server) handleGetFile(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.callerFile(w, r); ok {
		writeJSON(w, http.StatusOK, fileJSON(f))
	}
}

// handleFileContent serves GET /v1/files/{id}/content: an upload as it
// was, or a batch's output or error file.
func (s *Server) handleFileContent(w http.ResponseWriter, r *http.Request) {
	f, ok := s.callerFile(w, r)
	if !ok {
		return
	}
	id := f.ID
	// Rendered into a buffer first, so that a failure is an error
	// answer, not a truncated file.
	var buf bytes.Buffer
	if err := s.opts.Batch.WriteFile(r.Context(), &buf, f); err != nil {
		batchError(w, err, "file", id)
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	buf.WriteTo(w)
}

// handleDeleteFile serves DELETE /v1/files/{id}.
func (s *Server) handleDeleteFile(w http.ResponseWriter, r *http.Request) {
	who, ok := s.batchCall(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := s.opts.BatchStore.DeleteFile(r.Context(), who.tenant, id); err != nil {
		batchError(w, err, "file", id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "file", "deleted": true})
}

// batchObject is OpenAI's Batch object.
type batchObject struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Endpoint         string            `json:"endpoint"`
	Errors           *batchErrors      `json:"errors"`
	InputFileID      string            `json:"input_file_id"`
	CompletionWindow string            `json:"completion_window"`
	Status           string            `json:"status"`
	OutputFileID     *string           `json:"output_file_id"`
	ErrorFileID      *string           `json:"error_file_id"`
	CreatedAt        int64             `json:"created_at"`
	InProgressAt     *int64            `json:"in_progress_at"`
	ExpiresAt        *int64            `json:"expires_at"`
	FinalizingAt     *int64            `json:"finalizing_at"`
	CompletedAt      *int64            `json:"completed_at"`
	FailedAt         *int64            `json:"failed_at"`
	ExpiredAt        *int64            `json:"expired_at"`
	CancellingAt     *int64            `json:"cancelling_at"`
	CancelledAt      *int64            `json:"cancelled_at"`
	RequestCounts    map[string]int    `json:"request_counts"`
	Metadata         map[string]string `json:"metadata"`
}

type batchErrors struct {
	Object string            `json:"object"`
	Data   []batch.LineError `json:"data"`
}

func batchJSON(b *batch.Batch) batchObject {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	at := func(t interface{ Unix() int64 }, zero bool) *int64 {
		if zero {
			return nil
		}
		v := t.Unix()
		return &v
	}
	o := batchObject{ID: b.ID, Object: "batch", Endpoint: b.Endpoint, InputFileID: b.InputFileID, CompletionWindow: b.CompletionWindow,
		Status: b.Status, OutputFileID: opt(b.OutputFileID), ErrorFileID: opt(b.ErrorFileID), CreatedAt: b.Created.Unix(),
		InProgressAt: at(b.InProgressAt, b.InProgressAt.IsZero()), ExpiresAt: at(b.ExpiresAt, b.ExpiresAt.IsZero()),
		FinalizingAt: at(b.FinalizingAt, b.FinalizingAt.IsZero()), CompletedAt: at(b.CompletedAt, b.CompletedAt.IsZero()),
		FailedAt: at(b.FailedAt, b.FailedAt.IsZero()), ExpiredAt: at(b.ExpiredAt, b.ExpiredAt.IsZero()),
		CancellingAt: at(b.CancellingAt, b.CancellingAt.IsZero()), CancelledAt: at(b.CancelledAt, b.CancelledAt.IsZero()),
		RequestCounts: map[string]int{"total": b.Counts.Total, "completed": b.Counts.Completed, "failed": b.Counts.Failed},
		Metadata:      b.Metadata}
	if len(b.Errors) > 0 {
		o.Errors = &batchErrors{Object: "list", Data: b.Errors}
	}
	return o
}

// createBatch is the body of POST /v1/batches.
type createBatch struct {
	InputFileID      string            `json:"input_file_id"`
	Endpoint         string            `json:"endpoint"`
	CompletionWindow string            `json:"completion_window"`
	Metadata         map[string]string `json:"metadata"`
	// OutputExpiresAfter is refused: Penny keeps a batch's output as long
	// as the batch.
	OutputExpiresAfter json.RawMessage `json:"output_expires_after"`
}

// handleCreateBatch serves POST /v1/batches.
func (s *Server) handleCreateBatch(w http.ResponseWriter, r *http.Request) {
	who, ok := s.batchCall(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		storedError(w, tooLargeOr(err, 1<<20))
		return
	}
	var in createBatch
	if err := openaiwire.DecodeStrict(body, &in, nil); err != nil {
		storedError(w, err)
		return
	}
	switch {
	case in.InputFileID == "":
		storedError(w, openaiwire.Invalid("input_file_id", "is required"))
		return
	case in.Endpoint != batch.EndpointChat:
		storedError(w, openaiwire.Unsupported("endpoint", "Penny batches %s only, got %q", batch.EndpointChat, in.Endpoint))
		return
	case in.CompletionWindow != "24h":
		storedError(w, openaiwire.Invalid("completion_window", "must be 24h, got %q", in.CompletionWindow))
		return
	case len(in.OutputExpiresAfter) > 0:
		storedError(w, openaiwire.Unsupported("output_expires_after", "Penny keeps a batch's output files as long as the batch; leave it out"))
		return
	case len(in.Metadata) > 16:
		storedError(w, openaiwire.Invalid("metadata", "has %d keys; at most 16 are allowed", len(in.Metadata)))
		return
	}
	b := &batch.Batch{Tenant: who.tenant, KeyID: who.keyID, Tags: who.tags, InputFileID: in.InputFileID, Endpoint: in.Endpoint,
		CompletionWindow: in.CompletionWindow, Metadata: in.Metadata}
	if err := s.opts.Batch.CreateBatch(r.Context(), b); err != nil {
		var e *llm.Error
		if errors.As(err, &e) && e.Kind == llm.KindValidation {
			e.Param = "input_file_id"
		}
		batchError(w, err, "file", in.InputFileID)
		return
	}
	writeJSON(w, http.StatusOK, batchJSON(b))
}

// handleGetBatch serves GET /v1/batches/{id}.
func (s *Server) handleGetBatch(w http.ResponseWriter, r *http.Request) {
	who, ok := s.batchCall(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	b, err := s.opts.BatchStore.GetBatch(r.Context(), who.tenant, id)
	if err != nil {
		batchError(w, err, "batch", id)
		return
	}
	writeJSON(w, http.StatusOK, batchJSON(b))
}

// handleListBatches serves GET /v1/batches: newest first, limit 1 to 100
// (default 20), after a batch id.
func (s *Server) handleListBatches(w http.ResponseWriter, r *http.Request) {
	who, ok := s.batchCall(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit, ok := pageLimit(w, q)
	if !ok {
		return
	}
	bs, more, err := s.opts.BatchStore.ListBatches(r.Context(), who.tenant, q.Get("after"), limit)
	if err != nil {
		batchError(w, err, "batch", q.Get("after"))
		return
	}
	data := make([]batchObject, 0, len(bs))
	for _, b := range bs {
		data = append(data, batchJSON(b))
	}
	out := map[string]any{"object": "list", "data": data, "has_more": more, "first_id": nil, "last_id": nil}
	if len(data) > 0 {
		out["first_id"], out["last_id"] = data[0].ID, data[len(data)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCancelBatch serves POST /v1/batches/{id}/cancel.
func (s *Server) handleCancelBatch(w http.ResponseWriter, r *http.Request) {
	who, ok := s.batchCall(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	b, err := s.opts.Batch.CancelBatch(context.WithoutCancel(r.Context()), who.tenant, id)
	if err != nil {
		batchError(w, err, "batch", id)
		return
	}
	writeJSON(w, http.StatusOK, batchJSON(b))
}
