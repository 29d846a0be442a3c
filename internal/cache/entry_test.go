package cache

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/penny-gateway/penny/internal/llm"
)

func TestEntryRoundTrip(t *testing.T) {
	resp := &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockReasoning, Text: "hmm", Signature: "s"},
			llm.TextBlock("héllo\x00"),
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "1", Name: "f", Input: json.RawMessage(`{ "a" : [1, 2.50] }`)}},
			{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: []byte{0, 1, 255}}},
			{Type: llm.BlockDocument, Document: &llm.Document{Format: "md", Name: "d", Bytes: []byte("# d")}},
			{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "1", Status: "error", Content: []llm.ToolResultContent{
				{Text: "t"}, {JSON: json.RawMessage(`[1,{"b":null}]`)}, {Image: &llm.Image{Format: "gif", Bytes: []byte{7}}},
			}}},
			{Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{TTL: "1h"}},
			{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "2", Name: "g", Input: json.RawMessage(`{"not json`)}},
		}},
		StopReason:   llm.StopToolUse,
		Usage:        llm.Usage{InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4},
		Latency:      1500 * time.Microsecond,
		InvokedModel: "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku",
		Cost:         123,
		BaselineCost: 456,
	}
	b, err := encodeEntry("claude-haiku", resp, time.Unix(1_800_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	model, got, err := decodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	want := *resp
	want.Cost, want.BaselineCost = 0, 0 // prices are never stored
	if model != "claude-haiku" || !reflect.DeepEqual(got, &want) {
		t.Fatalf("round trip:\n got %s %+v\nwant %+v", model, got, &want)
	}
}

func TestEntryRejectsOtherVersions(t *testing.T) {
	for _, data := range []string{`{"v":2,"role":"assistant"}`, `{"role":"assistant"}`, `not json`, ``} {
		if _, _, err := decodeEntry([]byte(data)); err == nil {
			t.Errorf("decodeEntry(%q) succeeded", data)
		}
	}
}

func TestChunks(t *testing.T) {
	for _, s := range []string{
		"",
		"short",
		strings.Repeat("word ", 40),
		strings.Repeat("é", 100),
		strings.Repeat("日本語のテキスト", 20),
		strings.Repeat("x", 100),
		"emoji 🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂 and text after it",
	} {
		cs := chunks(s)
		if strings.Join(cs, "") != s {
			t.Fatalf("chunks of %q do not join back", s)
		}
		for _, c := range cs {
			if !utf8.ValidString(c) {
				t.Fatalf("chunk %q of %q splits a character", c, s)
			}
			if c == "" && s != "" {
				t.Fatalf("empty chunk in %q", s)
			}
			if len(c) > chunkBytes+utf8.UTFMax {
				t.Fatalf("chunk of %d bytes", len(c))
			}
		}
		if len(s) > 3*chunkBytes && len(cs) < 3 {
			t.Fatalf("%d bytes in %d chunks", len(s), len(cs))
		}
	}
}
