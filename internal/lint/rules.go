package lint

import (
	"regexp"
	"unicode"
)

// startFiller are phrases that only pad a request at the start of a
// sentence ("Could you please …", "I would like you to …"); elsewhere the
// same words can carry meaning ("what would you recommend"). They are
// matched repeatedly, so "Hello, could you please" is three phrases.
var startFiller = []*regexp.Regexp{
	regexp.MustCompile(`(?i)^(hello|hi there|hey there|good (morning|afternoon|evening)|dear (assistant|ai|model))\b[!,.]?`),
	regexp.MustCompile(`(?i)^(could|can|would|will) you( please| kindly)?( be so kind as to)?\b`),
	regexp.MustCompile(`(?i)^would you mind\b`),
	regexp.MustCompile(`(?i)^i(('d| would) (like|love) (for )?you to|('d| would) appreciate it if you (could|would)|('d| would) like to ask you to| want you to| need you to)\b`),
	regexp.MustCompile(`(?i)^it would be (great|nice|helpful|awesome|wonderful|ideal) if you (could|would|can)\b`),
	regexp.MustCompile(`(?i)^make sure( to| that)?\b`),
	regexp.MustCompile(`(?i)^(please|kindly)\b`),
}

// anyFiller are filler phrases wherever they appear. Longer forms come
// first: Go's alternation is leftmost-first.
var anyFiller = regexp.MustCompile(`(?i)\b(` +
	`thank you( so much| very much)?( in advance)?( for (your|the) help)?|` +
	`thanks( a lot| so much)?( in advance)?( for (your|the) help)?|` +
	`as an ai( language model| assistant)?|` +
	`i would like you to|could you please|feel free to|` +
	`it would be (great|nice|helpful) if( you could)?|` +
	`if you (don't|do not) mind|i hope (this|that) makes sense|` +
	`please|kindly)\b`)

// questionStart are start phrases that turn an instruction into a
// question; once removed, the sentence's "?" becomes ".".
var questionStart = regexp.MustCompile(`(?i)^(could|can|would|will) you\b`)

// formatRe recognises a stated output format.
var formatRe = regexp.MustCompile(`(?i)\b(json|yaml|xml|csv|markdown|html|lists?|bullets?|bulleted|bullet points?|tables?|format(ted)?|schema|numbered|respond (with|in|as)|reply (with|in|as)|return only|output only)\b`)

// proseFormRe recognises a request for a form of prose ("write an essay",
// "draft a cover letter", "tell me a story"): the form is the output
// format, and a JSON line would change what is asked for. The verb keeps a
// form the prompt is given ("summarise this article") from counting.
var proseFormRe = regexp.MustCompile(`(?i)\b(write|draft|compose|tell|pen|craft)\b[^.!?\n]{0,60}?\b(` +
	`essays?|stor(y|ies)|poems?|poetry|haikus?|sonnets?|limericks?|lyrics|songs?|letters?|e-?mails?|articles?|` +
	`blog posts?|posts?|speech(es)?|narratives?|novels?|memos?|op-eds?|screenplays?|dialogues?|prose|paragraphs?|` +
	`reviews?|toasts?|eulog(y|ies))\b`)

// lengthRe recognises a stated length bound.
var lengthRe = regexp.MustCompile(`(?i)\bmax_tokens\b|` +
	`\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|single)[\s-]+(words?|sentences?|tokens?|characters?|chars|lines?|paragraphs?|bullets?|bullet points?|items?)\b|` +
	`\b(max(imum)?|at most|no more than|up to|under|fewer than|less than|limit(ed)? to|within)\b[^.\n]{0,20}\b(words?|sentences?|tokens?|characters?|chars|lines?|paragraphs?|bullets?|items?)\b`)

// shapeRe marks a sentence that describes the shape of the output.
var shapeRe = regexp.MustCompile(`(?i)\b(mentions?|mentioned|includes?|included|including|talk about|describes?|(start|begin|end)s? with|followed by|then|headline|heading|title|paragraph|section|should (have|contain|be|cover)|covers?)\b`)

// minShape is how many shape sentences make long prose.
const minShape = 3

// repeatOverlap is the share of the shorter sentence's word bigrams that
// the longer must contain for the later one to count as a repeat; repeats
// need minRepeatWords content words each.
const (
	repeatOverlap  = 0.6
	minRepeatWords = 3
)

// stop are function words that say nothing about the task; they are left
// out of repeat detection and of the content-word check.
var stop = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range []string{"a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "for", "with", "at", "by",
		"from", "as", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "which",
		"who", "what", "you", "your", "i", "we", "our", "me", "my", "us", "they", "them", "their", "he", "she", "his",
		"her", "so", "also", "very", "too", "do", "does", "can", "could", "would", "should", "will", "have", "has",
		"about", "into", "than", "then", "there", "here", "if", "all", "any", "some", "just", "how", "s"} {
		m[w] = true
	}
	return m
}()

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '$' || r == '_'
}
