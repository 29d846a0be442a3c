package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/spf13/cobra"

	"github.com/penny-gateway/penny/internal/progress"
	"github.com/penny-gateway/penny/internal/texttable"
)

// batchClient is the flags every batch subcommand shares: which Penny
// and which key.
type batchClient struct{ url, key string }

func (b *batchClient) flags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&b.url, "url", "http://127.0.0.1:8484", "the running Penny")
	cmd.PersistentFlags().StringVar(&b.key, "key", "", "a Penny key (bearer token) when auth is on; default $PENNY_API_KEY")
}

func (b *batchClient) client() *openai.Client {
	key := b.key
	if key == "" {
		key = os.Getenv("PENNY_API_KEY")
	}
	if key == "" {
		key = "none" // auth off: Penny ignores it
	}
	c := openai.NewClient(option.WithBaseURL(strings.TrimRight(b.url, "/")+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(2))
	return &c
}

// explain turns a client error into a message naming the Penny asked.
func (b *batchClient) explain(err error) error {
	var e *openai.Error
	if errors.As(err, &e) {
		return fmt.Errorf("%s: %d %s", b.url, e.StatusCode, e.Message)
	}
	return fmt.Errorf("no Penny answering at %s (start penny serve, or pass --url): %w", b.url, err)
}

func newBatch() *cobra.Command {
	bc := &batchClient{}
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Submit work that can wait to Bedrock batch inference, at batch prices",
		Long: `Submit a JSONL file of chat-completion requests to a running Penny's OpenAI
Batch API (POST /v1/files, POST /v1/batches), follow it, and download its
results. Penny runs the requests on Amazon Bedrock batch jobs at batch prices
(about half of on demand); every request is one ledger record.

A line of FILE.jsonl is an OpenAI batch line ({"custom_id", "method": "POST",
"url": "/v1/chat/completions", "body": {...}}) or just a chat-completion body
({"messages": [...]}); --model sets the model of every line.`,
	}
	bc.flags(cmd)
	cmd.AddCommand(newBatchSubmit(bc), newBatchStatus(bc), newBatchResults(bc), newBatchList(bc), newBatchCancel(bc))
	return cmd
}

func newBatchSubmit(bc *batchClient) *cobra.Command {
	var model string
	var wait, quiet bool
	cmd := &cobra.Command{
		Use:   "submit FILE.jsonl",
		Short: "Upload a file of requests and start a batch (--wait follows it to the end)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			lines, err := batchLines(raw, model)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			ctx, c := cmd.Context(), bc.client()
			f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(lines), baseName(args[0]), "application/jsonl"),
				Purpose: openai.FilePurposeBatch})
			if err != nil {
				return bc.explain(err)
			}
			b, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: f.ID, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions,
				CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
			if err != nil {
				return bc.explain(err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "batch %s: %d requests from %s (file %s)\n", b.ID, b.RequestCounts.Total, args[0], f.ID)
			if !wait {
				fmt.Fprintf(out, "follow it with: penny batch status %s\n", b.ID)
				return nil
			}
			var w io.Writer
			if !quiet {
				w = progress.Terminal(cmd.ErrOrStderr())
			}
			b, err = follow(ctx, c, b, w)
			if err != nil {
				return bc.explain(err)
			}
			printBatch(out, b)
			if b.OutputFileID != "" {
				fmt.Fprintf(out, "results: penny batch results %s -o results.jsonl\n", b.ID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "the model (or route) of every request")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the batch to end, with a progress bar")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

// batchLines makes OpenAI batch lines of a file's lines.
func batchLines(raw []byte, model string) ([]byte, error) {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), len(raw)+1)
	n := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		n++
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("line %d: not a JSON object: %v", n, err)
		}
		body := m
		if b, ok := m["body"]; ok {
			body = nil
			if err := json.Unmarshal(b, &body); err != nil {
				return nil, fmt.Errorf("line %d: body: %v", n, err)
			}
		}
		if model != "" {
			body["model"], _ = json.Marshal(model)
		}
		if _, ok := body["model"]; !ok {
			return nil, fmt.Errorf("line %d names no model: pass --model", n)
		}
		id := m["custom_id"]
		if id == nil {
			id, _ = json.Marshal(fmt.Sprintf("line-%d", n))
		}
		bb, _ := json.Marshal(body)
		l, _ := json.Marshal(map[string]json.RawMessage{"custom_id": id, "method": json.RawMessage(`"POST"`),
			"url": json.RawMessage(`"/v1/chat/completions"`), "body": bb})
		out.Write(l)
		out.WriteByte('\n')
	}
	if n == 0 {
		return nil, errors.New("no requests")
	}
	return out.Bytes(), sc.Err()
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// follow polls a batch until it is over, drawing its progress on w.
func follow(ctx context.Context, c *openai.Client, b *openai.Batch, w io.Writer) (*openai.Batch, error) {
	var bar *progress.Bar
	done := 0
	defer func() { bar.Done() }()
	for {
		switch b.Status {
		case openai.BatchStatusCompleted, openai.BatchStatusFailed, openai.BatchStatusCancelled, openai.BatchStatusExpired:
			return b, nil
		}
		if bar == nil && b.RequestCounts.Total > 0 {
			bar = progress.New(w, "batch", 0, int(b.RequestCounts.Total))
		}
		if n := int(b.RequestCounts.Completed + b.RequestCounts.Failed); n > done {
			bar.Add(n - done)
			done = n
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
		var err error
		if b, err = c.Batches.Get(ctx, b.ID); err != nil {
			return nil, err
		}
	}
}

func printBatch(w io.Writer, b *openai.Batch) {
	fmt.Fprintf(w, "batch %s: %s, %d of %d done, %d failed\n", b.ID, b.Status, b.RequestCounts.Completed, b.RequestCounts.Total, b.RequestCounts.Failed)
	if b.OutputFileID != "" {
		fmt.Fprintf(w, "output file: %s\n", b.OutputFileID)
	}
	if b.ErrorFileID != "" {
		fmt.Fprintf(w, "error file:  %s\n", b.ErrorFileID)
	}
	for _, e := range b.Errors.Data {
		fmt.Fprintf(w, "error: %s\n", e.Message)
	}
}

func newBatchStatus(bc *batchClient) *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Show a batch's status and request counts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bc.client().Batches.Get(cmd.Context(), args[0])
			if err != nil {
				return bc.explain(err)
			}
			printBatch(cmd.OutOrStdout(), b)
			return nil
		},
	}
}

func newBatchResults(bc *batchClient) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "results ID",
		Short: "Download a finished batch's output (and error) lines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c := cmd.Context(), bc.client()
			b, err := c.Batches.Get(ctx, args[0])
			if err != nil {
				return bc.explain(err)
			}
			if b.OutputFileID == "" && b.ErrorFileID == "" {
				return fmt.Errorf("batch %s is %s and has no results yet", b.ID, b.Status)
			}
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			for _, id := range []string{b.OutputFileID, b.ErrorFileID} {
				if id == "" {
					continue
				}
				resp, err := c.Files.Content(ctx, id)
				if err != nil {
					return bc.explain(err)
				}
				_, err = io.Copy(w, resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
			}
			if out != "" && out != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d done and %d failed requests to %s\n", b.RequestCounts.Completed, b.RequestCounts.Failed, out)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

func newBatchList(bc *batchClient) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your batches, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			page, err := bc.client().Batches.List(cmd.Context(), openai.BatchListParams{Limit: openai.Int(int64(limit))})
			if err != nil {
				return bc.explain(err)
			}
			if len(page.Data) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No batches.")
				return nil
			}
			rows := [][]string{{"ID", "STATUS", "CREATED", "TOTAL", "DONE", "FAILED"}}
			for _, b := range page.Data {
				rows = append(rows, []string{b.ID, string(b.Status), time.Unix(b.CreatedAt, 0).UTC().Format(time.RFC3339),
					fmt.Sprint(b.RequestCounts.Total), fmt.Sprint(b.RequestCounts.Completed), fmt.Sprint(b.RequestCounts.Failed)})
			}
			return texttable.WriteLeft(cmd.OutOrStdout(), rows, 2, 3)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many (1 to 100)")
	return cmd
}

func newBatchCancel(bc *batchClient) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a batch: requests not yet in a job are not run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bc.client().Batches.Cancel(cmd.Context(), args[0])
			if err != nil {
				return bc.explain(err)
			}
			printBatch(cmd.OutOrStdout(), b)
			return nil
		},
	}
}
