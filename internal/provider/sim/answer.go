package sim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"

	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/llm"
)

// The vocabulary of simulated answers, by part of speech: the sentence
// patterns below fill their slots from these lists, so that an answer reads
// like plausible, if vague, technical English.
var (
	nouns = strings.Fields(`system service request response model cost budget cache latency throughput region
		account user team data table query index record field value result error retry timeout limit quota
		policy rule route gateway server client network storage memory process queue event stream batch job
		task step stage configuration setting option parameter default version release update change feature
		issue problem cause solution approach method pattern design component module function interface layer
		performance reliability security availability consistency efficiency accuracy quality price usage
		prompt context answer summary document file log metric alert tradeoff workload dashboard pipeline
		deployment baseline estimate`)
	verbs = strings.Fields(`reduces improves increases avoids enables affects controls limits handles returns
		stores loads sends checks measures tracks reports validates caches routes scales lowers raises
		simplifies protects needs uses requires supports changes explains shows follows replaces`)
	adjectives = strings.Fields(`important simple common useful reliable cheaper faster smaller larger better
		clear specific typical different similar separate shared current previous next main overall
		expensive slow stable predictable efficient careful`)
	adverbs     = strings.Fields(`usually often typically generally quickly carefully already still also rarely`)
	prepos      = strings.Fields(`for in on with across before after during without behind`)
	determiners = []string{"the", "the", "the", "each", "every", "this", "a", "that"}
	connectors  = []string{"However", "In practice", "As a result", "For example", "In most cases",
		"Therefore", "Meanwhile", "First", "Next", "Finally", "In short", "By contrast"}
	// patterns are sentence shapes: D determiner, N noun, A adjective,
	// V verb, R adverb, P preposition, C connector with its comma; any
	// other word is written as is.
	patterns = [][]string{
		strings.Fields("D N V D N"),
		strings.Fields("D A N R V D N P D N"),
		strings.Fields("C D N V D A N"),
		strings.Fields("D N V D N when D N V D N"),
		strings.Fields("If D N V D N , D N R V D A N"),
		strings.Fields("C D N P D N V D N and D N"),
		strings.Fields("D A N V D N , which R V D N P D N"),
		strings.Fields("It R V D N to check D N before D N V"),
	}
)

// stopWords are left out when picking the topic of a prompt and matching
// a prompt against tool names.
var stopWords = map[string]bool{
	"the": true, "and": true, "for": true, "with": true, "that": true, "this": true, "what": true, "which": true,
	"about": true, "please": true, "could": true, "would": true, "should": true, "there": true, "their": true,
	"from": true, "into": true, "your": true, "have": true, "does": true, "when": true, "where": true,
	"will": true, "can": true, "how": true, "why": true, "get": true, "set": true, "fetch": true, "run": true,
	"call": true, "tool": true, "use": true, "using": true, "make": true, "give": true, "tell": true,
	"show": true, "some": true, "been": true, "being": true, "them": true, "then": true, "than": true,
	// the cues of longCues and other instructions are not topics
	"explain": true, "describe": true, "troubleshoot": true, "summarize": true, "summarise": true,
	"write": true, "compare": true, "analyze": true, "analyse": true, "design": true, "implement": true,
	"debug": true, "detail": true, "detailed": true, "steps": true, "essay": true, "short": true,
	"bought": true, "wants": true, "needs": true, "thanks": true, "hello": true,
}

// size is how long an answer the prompt asks for.
type size int

const (
	sizeShort size = iota
	sizeMedium
	sizeLong
)

// longCues make a prompt ask for a long answer; listCues make it a list.
var (
	longCues = []string{"explain", "troubleshoot", "write", "step by step", "step-by-step", "describe",
		"in detail", "detailed", "compare", "analyze", "analyse", "essay", "walk me through", "how do i",
		"how to", "design", "implement", "debug", "why does", "why is", "pros and cons", "plan"}
	listCues = []string{"step by step", "step-by-step", "troubleshoot", "steps", "how do i", "how to",
		"walk me through", "list"}
)

func hasAny(s string, cues []string) bool {
	for _, c := range cues {
		if strings.Contains(s, c) {
			return true
		}
	}
	return false
}

// classify sizes the answer to prompt.
func classify(prompt string) size {
	p := strings.ToLower(prompt)
	switch {
	case hasAny(p, longCues):
		return sizeLong
	case len(strings.Fields(p)) <= 15:
		return sizeShort
	}
	return sizeMedium
}

// targetTokens draws the length of an answer's prose.
func targetTokens(s size, rng *rand.Rand) int {
	switch s {
	case sizeShort:
		return 15 + rng.IntN(40)
	case sizeMedium:
		return 80 + rng.IntN(140)
	}
	return 300 + rng.IntN(450)
}

// wordsOf splits s into lower-case words of letters and digits.
func wordsOf(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// topics picks up to six distinctive words of the prompt, which the prose
// mentions now and then so that it reads as an answer to it. Words keep
// their case (names, acronyms), except the prompt's capitalised first word.
func topics(prompt string) []string {
	var out []string
	seen := map[string]bool{}
	fields := strings.FieldsFunc(prompt, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range fields {
		lw := strings.ToLower(w)
		if len(w) < 5 || stopWords[lw] || seen[lw] {
			continue
		}
		seen[lw] = true
		if i == 0 && w != strings.ToUpper(w) {
			w = lw
		}
		out = append(out, w)
		if len(out) == 6 {
			break
		}
	}
	return out
}

// prose writes about target tokens of English-like text: sentences of
// random words with the prompt's topics mixed in, in paragraphs, or as a
// numbered list when list is true.
func (p *Provider) prose(rng *rand.Rand, target int, topic []string, list bool) string {
	var b strings.Builder
	n, step := 0, 0
	for n < target {
		sep := " "
		switch {
		case b.Len() == 0:
			sep = ""
		case list:
			sep = "\n"
		case rng.IntN(4) == 0:
			sep = "\n\n"
		}
		s := sentence(rng, topic)
		if list {
			step++
			s = fmt.Sprintf("%d. %s %s", step, s, sentence(rng, topic))
		}
		n += p.counter.Count(sep + s)
		b.WriteString(sep)
		b.WriteString(s)
	}
	return b.String()
}

// sentence fills a random pattern; a quarter of its nouns are the
// prompt's topic words.
func sentence(rng *rand.Rand, topic []string) string {
	pat := patterns[rng.IntN(len(patterns))]
	out := make([]string, 0, len(pat)+2)
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	for _, slot := range pat {
		var w string
		switch slot {
		case "D":
			w = pick(determiners)
		case "N":
			w = pick(nouns)
			if len(topic) > 0 && rng.IntN(4) == 0 {
				w = pick(topic)
			}
		case "A":
			w = pick(adjectives)
		case "V":
			w = pick(verbs)
		case "R":
			w = pick(adverbs)
		case "P":
			w = pick(prepos)
		case "C":
			w = pick(connectors) + ","
		case ",":
			out[len(out)-1] += ","
			continue
		default:
			w = slot
		}
		out = append(out, w)
	}
	for i := 0; i+1 < len(out); i++ { // a → an before a vowel
		if next := out[i+1]; out[i] == "a" && (strings.ContainsRune("aeioAEIO", rune(next[0])) || strings.HasPrefix(next, "upd")) {
			out[i] = "an"
		}
	}
	out[0] = strings.ToUpper(out[0][:1]) + out[0][1:]
	return strings.Join(out, " ") + "."
}

// pickTool returns the tool the model calls, or nil when it answers in
// text: the named tool for toolChoice tool, the best match (or the first
// tool) for any, and for auto a tool the last user message clearly asks
// for. It never calls a tool right after a tool result.
func pickTool(req *llm.Request) *llm.Tool {
	if req.Tools == nil || len(req.Tools.Tools) == 0 || lastUserHasToolResult(req) {
		return nil
	}
	tools := req.Tools.Tools
	switch req.Tools.Choice.Mode {
	case llm.ToolChoiceTool:
		for i := range tools {
			if tools[i].CachePoint == nil && tools[i].Name == req.Tools.Choice.Name {
				return &tools[i]
			}
		}
		return nil
	case llm.ToolChoiceAny:
		if t := matchTool(tools, req.LastUserText()); t != nil {
			return t
		}
		for i := range tools {
			if tools[i].CachePoint == nil {
				return &tools[i]
			}
		}
		return nil
	}
	return matchTool(tools, req.LastUserText())
}

// matchTool returns the tool whose name or description the prompt asks for
// most clearly: a word of the tool's name (other than verbs like get or
// fetch) in the prompt, or two distinctive words of its description.
func matchTool(tools []llm.Tool, prompt string) *llm.Tool {
	said := map[string]bool{}
	for _, w := range wordsOf(prompt) {
		said[w] = true
		said[strings.TrimSuffix(w, "s")] = true
	}
	var best *llm.Tool
	bestScore := 0
	for i := range tools {
		t := &tools[i]
		if t.CachePoint != nil {
			continue
		}
		score := 0
		for _, w := range nameWords(t.Name) {
			if len(w) >= 3 && !stopWords[w] && said[w] {
				score += 2
			}
		}
		for _, w := range wordsOf(t.Description) {
			if len(w) >= 5 && !stopWords[w] && said[w] {
				score++
			}
		}
		if score >= 2 && score > bestScore {
			best, bestScore = t, score
		}
	}
	return best
}

// nameWords splits a tool name like get_weather, getWeather or get-weather
// into lower-case words.
func nameWords(name string) []string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return wordsOf(b.String())
}

func lastUserHasToolResult(req *llm.Request) bool {
	if len(req.Messages) == 0 {
		return false
	}
	m := req.Messages[len(req.Messages)-1]
	if m.Role != llm.RoleUser {
		return false
	}
	for _, b := range m.Content {
		if b.Type == llm.BlockToolResult {
			return true
		}
	}
	return false
}

// toolResultSummary describes the tool results of the last user message for
// the answer that follows them: the tool's name and the start of its output.
func toolResultSummary(req *llm.Request) string {
	names := map[string]string{}
	for _, m := range req.Messages {
		for _, b := range m.Content {
			if b.Type == llm.BlockToolUse && b.ToolUse != nil {
				names[b.ToolUse.ID] = b.ToolUse.Name
			}
		}
	}
	var parts []string
	for _, b := range req.Messages[len(req.Messages)-1].Content {
		if b.Type != llm.BlockToolResult || b.ToolResult == nil {
			continue
		}
		name := names[b.ToolResult.ToolUseID]
		if name == "" {
			name = "the tool"
		}
		var out []string
		for _, c := range b.ToolResult.Content {
			switch {
			case c.Text != "":
				out = append(out, c.Text)
			case len(c.JSON) > 0:
				out = append(out, string(compactJSON(c.JSON)))
			case c.Image != nil:
				out = append(out, "an image")
			}
		}
		text := clip(strings.Join(out, " "), 80)
		if b.ToolResult.Status == "error" {
			parts = append(parts, fmt.Sprintf("%s failed (%s)", name, text))
		} else {
			parts = append(parts, fmt.Sprintf("%s returned %s", name, text))
		}
	}
	return "Based on the tool result: " + strings.Join(parts, "; ") + "."
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	if s == "" {
		return "nothing"
	}
	return s
}

// toolInput builds an input for t that satisfies its schema's required
// properties, with placeholder values by type.
func toolInput(t *llm.Tool) json.RawMessage {
	var schema map[string]any
	if len(t.InputSchema) > 0 {
		_ = json.Unmarshal(t.InputSchema, &schema) // an invalid schema gets {}
	}
	v := placeholder(schema, "value", 0)
	if _, ok := v.(map[string]any); !ok {
		v = map[string]any{}
	}
	js, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("{}")
	}
	return js
}

// placeholder returns a value of the type schema describes: the first enum
// value or the const if any, else a type-appropriate stand-in; objects get
// their required properties, arrays as many items as minItems asks.
func placeholder(schema map[string]any, name string, depth int) any {
	if schema == nil || depth > 8 {
		return map[string]any{}
	}
	if c, ok := schema["const"]; ok {
		return c
	}
	if e, ok := schema["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if d, ok := schema["default"]; ok {
		return d
	}
	for _, key := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := schema[key].([]any); ok && len(alts) > 0 {
			if sub, ok := alts[0].(map[string]any); ok {
				return placeholder(sub, name, depth+1)
			}
		}
	}
	typ, _ := schema["type"].(string)
	if list, ok := schema["type"].([]any); ok {
		for _, t := range list {
			if s, ok := t.(string); ok && s != "null" {
				typ = s
				break
			}
		}
	}
	if typ == "" {
		if _, ok := schema["properties"]; ok {
			typ = "object"
		}
	}
	num := func() float64 {
		if m, ok := schema["minimum"].(float64); ok {
			return m
		}
		if m, ok := schema["exclusiveMinimum"].(float64); ok {
			return m + 1
		}
		return 1
	}
	switch typ {
	case "object":
		obj := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		req, _ := schema["required"].([]any)
		for _, r := range req {
			key, ok := r.(string)
			if !ok {
				continue
			}
			sub, _ := props[key].(map[string]any)
			if sub == nil {
				sub = map[string]any{"type": "string"}
			}
			obj[key] = placeholder(sub, key, depth+1)
		}
		return obj
	case "array":
		n := 0
		if m, ok := schema["minItems"].(float64); ok {
			n = int(m)
		}
		items, _ := schema["items"].(map[string]any)
		if items == nil {
			items = map[string]any{"type": "string"}
		}
		arr := make([]any, 0, n)
		for i := 0; i < n && i < 16; i++ {
			arr = append(arr, placeholder(items, name, depth+1))
		}
		return arr
	case "integer":
		return int(num())
	case "number":
		return num()
	case "boolean":
		return true
	case "null":
		return nil
	}
	switch schema["format"] {
	case "date":
		return "2025-01-01"
	case "date-time":
		return "2025-01-01T00:00:00Z"
	case "email":
		return "user@example.com"
	case "uri", "url":
		return "https://example.com"
	case "uuid":
		return "00000000-0000-4000-8000-000000000000"
	}
	return "example " + name
}

// defaultMaxTokens is the output cap when a request sets none.
func defaultMaxTokens(m *catalog.Model) int {
	if m.MaxOutputTokens > 0 && m.MaxOutputTokens < 4096 {
		return m.MaxOutputTokens
	}
	return 4096
}
