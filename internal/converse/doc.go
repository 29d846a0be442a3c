// Package converse is Bedrock's Converse and ConverseStream wire format:
// the JSON request and response bodies, the event-stream frames of a
// streamed answer, and Bedrock's error answers. Penny's Converse frontend and
// the fake Bedrock in package bedrocktest both speak Converse through it, and
// its table from llm.ErrorKind to Bedrock error types is the only one in
// Penny (the Bedrock provider reads it backwards).
//
// Decoding is strict: a request Penny cannot translate exactly is refused
// with an *llm.Error that names the offending field, never trimmed.
package converse
