package tokens

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/penny-gateway/penny/internal/llm"
)

func mustNew(tb testing.TB) *Counter {
	tb.Helper()
	c, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// reference is tiktoken-go's own encoder for the same vocabulary, loaded
// offline, that Count must agree with.
var reference = sync.OnceValues(func() (*tiktoken.Tiktoken, error) {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
	return tiktoken.GetEncoding(Encoding)
})

var corpus = []string{
	"",
	"Hello, world!",
	"hello world",
	"  leading spaces and trailing   ",
	"tabs\tand\nnewlines\r\nand\n\n\nblank lines\n   \n  indented",
	"I'm sure you'll see it's what we'd've DONE. They'RE here, 'tis 'Twas.",
	"Numbers: 1 12 123 1234 12345 3.14159 -42 1,000,000 0x1F ⅔ ٣٤٥ ²³",
	"Punctuation!!! ... ??? (parens) [brackets] {braces} <tags/> --- *** ### @@@ $$$ %%% ^^^ &&&",
	"func main() {\n\tfmt.Println(\"hi\")\n\treturn\n}\n",
	"Ünïcödé façade naïve café — “quotes” ‘single’ … ©®™",
	"日本語のテキストと中文文本以及한국어 텍스트",
	"Русский текст и ελληνικά γράμματα",
	"emoji 😀👍🏽🇺🇸 family 👨‍👩‍👧‍👦 zwj",
	"a\u00a0nbsp\u2003em space\u3000ideographic\u2028line sep",
	"combining e\u0301 a\u0308 n\u0303 devanagari हिन्दी",
	"x  \n  y \t\n\t z\r\r\n",
	"<|endoftext|> special tokens are <|fim_prefix|> ordinary text here",
	`{"name":"get_weather","input":{"city":"Paris","unit":"celsius"}}`,
	"https://example.com/path?query=1&b=two#frag user@example.org",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"SGVsbG8gd29ybGQhIFRoaXMgaXMgYmFzZTY0IGVuY29kZWQgdGV4dCB0aGF0IGdvZXMgb24gYW5kIG9u",
	" ' '' ''' 's 'S 'll 'LL 've 'Ve 'd 'm 're 'x",
	"end with space ",
	"end with newline\n",
	" ",
	"\n",
}

func TestCountMatchesTiktoken(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t)
	for _, s := range corpus {
		if got, want := c.Count(s), len(ref.EncodeOrdinary(s)); got != want {
			t.Errorf("Count(%q) = %d, tiktoken says %d", s, got, want)
		}
	}
}

func TestCountMatchesTiktokenRandom(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t)
	alphabet := []rune("abcXYZ éü日本😀 \t\n\r'’.,!?-_()0123٣⅔\u00a0\u0301")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		n := rng.IntN(40)
		var b strings.Builder
		for j := 0; j < n; j++ {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		if got, want := c.Count(s), len(ref.EncodeOrdinary(s)); got != want {
			t.Fatalf("Count(%q) = %d, tiktoken says %d", s, got, want)
		}
	}
}

func FuzzCount(f *testing.F) {
	for _, s := range corpus {
		f.Add(s)
	}
	ref, err := reference()
	if err != nil {
		f.Fatal(err)
	}
	c := mustNew(f)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			// tiktoken-go turns invalid bytes into U+FFFD; Count keeps them.
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		if got, want := c.Count(s), len(ref.EncodeOrdinary(s)); got != want {
			t.Errorf("Count(%q) = %d, tiktoken says %d", s, got, want)
		}
	})
}

func TestNewIsShared(t *testing.T) {
	a, b := mustNew(t), mustNew(t)
	if a != b {
		t.Error("New loaded the vocabulary twice")
	}
}

func TestCountConcurrent(t *testing.T) {
	c := mustNew(t)
	want := c.Count(corpus[9])
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if got := c.Count(corpus[9]); got != want {
					t.Errorf("Count = %d, want %d", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func pngOf(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestCountImage(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  *llm.Image
		want int
	}{
		{"nil", nil, 0},
		{"small png", &llm.Image{Format: "png", Bytes: pngOf(t, 300, 250)}, 100},
		{"tiny png", &llm.Image{Format: "png", Bytes: pngOf(t, 1, 1)}, 1},
		{"large png is resized and capped", &llm.Image{Format: "png", Bytes: pngOf(t, 4000, 3000)}, ImageTokens},
		{"webp falls back", &llm.Image{Format: "webp", Bytes: []byte("RIFF....WEBPVP8 ")}, ImageTokens},
		{"corrupt falls back", &llm.Image{Format: "jpeg", Bytes: []byte{1, 2, 3}}, ImageTokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CountImage(tc.img); got != tc.want {
				t.Errorf("CountImage = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCountRequest(t *testing.T) {
	c := mustNew(t)
	schema := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)
	req := &llm.Request{
		System: []llm.SystemBlock{{Text: "You are terse."}, {CachePoint: &llm.CachePoint{}}},
		Tools: &llm.ToolConfig{Tools: []llm.Tool{
			{Name: "get_weather", Description: "Weather for a city.", InputSchema: schema},
			{CachePoint: &llm.CachePoint{TTL: "1h"}},
		}},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{llm.TextBlock("Weather in Paris?"), {Type: llm.BlockCachePoint, CachePoint: &llm.CachePoint{}}}},
			{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockToolUse, ToolUse: &llm.ToolUse{ID: "t1", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}}}},
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolResult: &llm.ToolResult{ToolUseID: "t1", Content: []llm.ToolResultContent{{JSON: json.RawMessage(`{"temp":21}`)}}}}}},
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockImage, Image: &llm.Image{Format: "png", Bytes: pngOf(t, 300, 250)}}}},
		},
	}
	tool := c.CountTool(&req.Tools.Tools[0])
	sys := MessageOverhead + c.Count("You are terse.")
	m0 := c.CountMessage(&req.Messages[0])
	want := tool + sys
	for i := range req.Messages {
		want += c.CountMessage(&req.Messages[i])
	}
	total, cps := c.CountCheckpoints(req)
	if total != want || c.CountRequest(req) != want {
		t.Errorf("CountRequest = %d, want %d", total, want)
	}
	wantCPs := []Checkpoint{{Tokens: tool, TTL: "1h"}, {Tokens: tool + sys}, {Tokens: tool + sys + m0}}
	if len(cps) != len(wantCPs) {
		t.Fatalf("checkpoints = %+v, want %+v", cps, wantCPs)
	}
	for i := range cps {
		if cps[i] != wantCPs[i] {
			t.Errorf("checkpoint %d = %+v, want %+v", i, cps[i], wantCPs[i])
		}
	}
	if tool <= ToolOverhead+10 {
		t.Errorf("tool spec counted as %d tokens; the schema is missing", tool)
	}
	if got := c.CountBlock(&req.Messages[3].Content[0]); got != 100 {
		t.Errorf("image block = %d tokens, want 100", got)
	}
}

func TestCountDocument(t *testing.T) {
	c := mustNew(t)
	text := &llm.Block{Type: llm.BlockDocument, Document: &llm.Document{Format: "md", Name: "notes", Bytes: []byte("# Title\nSome notes.")}}
	if got, want := c.CountBlock(text), c.Count("notes")+c.Count("# Title\nSome notes."); got != want {
		t.Errorf("text document = %d, want %d", got, want)
	}
	pdf := &llm.Block{Type: llm.BlockDocument, Document: &llm.Document{Format: "pdf", Name: "r", Bytes: make([]byte, 8000)}}
	if got := c.CountBlock(pdf); got != 1+1000 {
		t.Errorf("pdf document = %d, want 1001", got)
	}
}

func benchText(tb testing.TB, c *Counter, tokens int) string {
	words := strings.Fields("The gateway routes each request to the cheapest model that can answer it well, " +
		"caches repeated prompts, trims context, and records what every call cost and would have cost.")
	var b strings.Builder
	for i := 0; c.Count(b.String()) < tokens; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[i%len(words)])
	}
	tb.Logf("text of %d tokens, %d bytes", c.Count(b.String()), b.Len())
	return b.String()
}

func BenchmarkCount(b *testing.B) {
	c := mustNew(b)
	for _, n := range []int{50, 2000} {
		s := benchText(b, c, n)
		b.Run(strconv.Itoa(n)+"tokens", func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				c.Count(s)
			}
		})
	}
}

func TestTruncateAndSplit(t *testing.T) {
	c := mustNew(t)
	s := "The quick brown fox jumps over the lazy dog. It was 12345 degrees!!! Ünïcödé 日本語"
	total := c.Count(s)
	for n := 0; n <= total+1; n++ {
		got := c.Truncate(s, n)
		if !strings.HasPrefix(s, got) {
			t.Fatalf("Truncate(%d) = %q is not a prefix", n, got)
		}
		if k := c.Count(got); k > n || (n >= total && got != s) {
			t.Errorf("Truncate(%d) = %q with %d tokens", n, got, k)
		}
	}
	if got := c.Truncate(s, 4); got != "The quick brown fox" {
		t.Errorf("Truncate(4) = %q", got)
	}
	for _, n := range []int{1, 3, 7, 1000} {
		chunks := c.Split(s, n)
		if strings.Join(chunks, "") != s {
			t.Errorf("Split(%d) does not rejoin: %q", n, chunks)
		}
		for i, ch := range chunks[:len(chunks)-1] {
			if k := c.Count(ch); k < n {
				t.Errorf("Split(%d) chunk %d %q has %d tokens", n, i, ch, k)
			}
		}
	}
	if c.Split("", 3) != nil {
		t.Error("Split of empty string is not nil")
	}
}

func TestCountLongPieces(t *testing.T) {
	ref, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t)
	rng := rand.New(rand.NewPCG(3, 4))
	letters := []rune("abcdefghijklmnopqrstuvwxyzé")
	puncts := []rune("=-_*#!?.,;:/\\|")
	for _, tc := range []struct {
		name string
		s    string
	}{
		{"equals run", strings.Repeat("=", 3000)},
		{"dash run", " " + strings.Repeat("-", 777) + "\n\n"},
		{"mixed punctuation", randomString(rng, puncts, 2000)},
		{"one long word", randomString(rng, letters, 2500)},
		{"repeated syllables", strings.Repeat("abrakadabra", 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := c.Count(tc.s), len(ref.EncodeOrdinary(tc.s)); got != want {
				t.Errorf("Count = %d, tiktoken says %d", got, want)
			}
		})
	}
}

func randomString(rng *rand.Rand, alphabet []rune, n int) string {
	var b strings.Builder
	for range n {
		b.WriteRune(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

func BenchmarkCountPathological(b *testing.B) {
	c := mustNew(b)
	s := strings.Repeat("=", 100_000)
	for b.Loop() {
		c.Count(s)
	}
}
