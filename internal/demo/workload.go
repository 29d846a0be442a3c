// Package demo is `penny demo`: it starts Penny in-process on the
// simulator, drives a realistic workload through the real HTTP API, and
// reports what each way of running it cost.
package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Prompt is one request of a workload.
type Prompt struct {
	Text string
	// Complex marks technical troubleshooting; the rest are simple.
	Complex bool
}

// SupportSystem is the chatbot's system prompt.
const SupportSystem = "You are the customer-support assistant of Acme Cloud, a hosting company. " +
	"Answer politely and concisely. If you are not sure, say so and offer to open a ticket."

var (
	names    = []string{"Alex", "Sam", "Priya", "Jordan", "Mei", "Lucas", "Fatima", "Noah", "Elena", "Omar"}
	plans    = []string{"Starter", "Team", "Business", "Enterprise"}
	services = []string{"the web app", "the API gateway", "the Postgres database", "the background worker", "the nightly export job", "the Kubernetes deployment"}
	errs     = []string{
		"502 Bad Gateway errors", "connection timeouts to the database", "an OOMKilled pod that restarts every few minutes",
		"TLS handshake failures", "p99 latency jumping from 80 ms to 4 s", "a crash loop with exit code 137",
		"intermittent 429 Too Many Requests responses", "a memory leak after the last deploy",
	}
	simple = []string{
		"Hi, this is %[1]s. What is the status of my account?",
		"How do I reset my password?",
		"I forgot my password and the reset email never arrived. Can you resend it?",
		"What does the %[2]s plan include?",
		"Can I upgrade from %[2]s to Business in the middle of the month?",
		"When is my next invoice due?",
		"How do I add a teammate to my account?",
		"Do you offer a discount for annual billing?",
		"How do I change the email address on my account?",
		"Where can I download last month's invoice?",
		"Is there a free trial of the %[2]s plan?",
		"How do I enable two-factor authentication?",
		"What are your support hours?",
		"Can I pause my subscription for a month?",
		"How do I cancel my account?",
	}
	complexT = []string{
		"Since this morning %[3]s is showing %[4]s. We changed nothing on our side. Logs show the upstream closing the connection after 30 seconds. How do I troubleshoot this step by step?",
		"After upgrading %[3]s to the new runtime we get %[4]s under load, but only on two of five instances. Health checks pass. What could explain it and how do we debug it?",
		"Our deploy pipeline fails when %[3]s starts: the container logs show %[4]s and then the readiness probe times out. Here is what we tried: rolling back the image, doubling memory, and pinning the node pool. Nothing helped. What should we check next?",
		"We see %[4]s on %[3]s every day between 02:00 and 02:30 UTC, which is when the backup runs. Could the backup be saturating disk I/O, and how do we prove it and fix it without moving the backup window?",
		"Explain why %[3]s would produce %[4]s when the connection pool is set to 100 but the database allows 90 connections, and walk me through a safe configuration change.",
	}
)

// SupportWorkload returns n prompts of the customer-support chatbot: 80 %
// simple questions (account status, FAQs, password resets) and 20 %
// technical troubleshooting, in a deterministic order for seed.
func SupportWorkload(n int, seed uint64) []Prompt {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	out := make([]Prompt, n)
	for i := range out {
		args := []any{names[r.IntN(len(names))], plans[r.IntN(len(plans))], services[r.IntN(len(services))], errs[r.IntN(len(errs))]}
		if r.Float64() < 0.2 {
			out[i] = Prompt{Text: sprintf(complexT[r.IntN(len(complexT))], args...), Complex: true}
		} else {
			out[i] = Prompt{Text: sprintf(simple[r.IntN(len(simple))], args...)}
		}
	}
	return out
}

// sprintf formats with indexed verbs, ignoring unused arguments.
func sprintf(format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if i := strings.Index(s, "%!(EXTRA"); i >= 0 {
		s = s[:i]
	}
	return s
}

// ComplexKeywords are the words the demo's rule treats as troubleshooting.
var ComplexKeywords = []string{
	"error", "errors", "troubleshoot", "debug", "crash", "timeout", "timeouts", "failures", "fails",
	"latency", "logs", "oomkilled", "leak", "502", "429", "upgrade", "upgrading", "configuration",
}
