package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Batch configures batch inference: deferred requests and the OpenAI Batch
// API, run on Bedrock batch jobs at batch prices. It is on when S3URI and
// RoleARN are set, and always under simulate (an in-process S3 and
// control plane stand in for AWS).
type Batch struct {
	// S3URI is where job inputs and outputs are written:
	// s3://bucket/prefix/. The role must be able to read and write it.
	S3URI string `yaml:"s3_uri"`
	// RoleARN is the IAM service role Bedrock assumes for the jobs.
	RoleARN string `yaml:"role_arn"`
	// KMSKeyID, if set, encrypts the inputs Penny writes and the outputs
	// Bedrock writes.
	KMSKeyID string `yaml:"kms_key_id"`
	// Endpoint and S3Endpoint override the Bedrock control-plane and S3
	// endpoints (VPC endpoints, an S3-compatible store; S3 is then
	// addressed path-style).
	Endpoint   string `yaml:"endpoint"`
	S3Endpoint string `yaml:"s3_endpoint"`
	// MinRecords and MaxRecords bound a job's records (defaults 100 and
	// 50,000, Bedrock's per-model quotas).
	MinRecords int `yaml:"min_records"`
	MaxRecords int `yaml:"max_records"`
	// MaxFileBytes and MaxJobBytes bound a job's input (defaults 1 GB
	// and 5 GB; Penny writes one file per job).
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	MaxJobBytes  int64 `yaml:"max_job_bytes"`
	// MaxWait is how long queued work waits for its model's group to
	// reach min_records (default 1h) before below_minimum applies.
	MaxWait Duration `yaml:"max_wait"`
	// BelowMinimum is wait (until the 24-hour window ends), flex (run on
	// demand on Bedrock's flex tier) or on_demand (the default).
	BelowMinimum string `yaml:"below_minimum"`
	// RetryFailed is on_demand (a record a job failed runs once on
	// demand; the default) or report (its error is the answer).
	RetryFailed string `yaml:"retry_failed"`
	// PollInterval and PollMax bound the backoff between polls of a job
	// (defaults 30s doubling to 10m; 1s to 2s under simulate).
	PollInterval Duration `yaml:"poll_interval"`
	PollMax      Duration `yaml:"poll_max"`
	// WebhookURL, if set, receives each deferred request's answer (POST,
	// JSON) when it is done.
	WebhookURL string `yaml:"webhook_url"`
	// MaxUploadBytes and MaxUploadLines bound an uploaded batch file
	// (defaults 100 MiB and 50,000 lines).
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	MaxUploadLines int   `yaml:"max_upload_lines"`
}

// Enabled reports whether batch inference is configured.
func (b Batch) Enabled() bool { return b.S3URI != "" && b.RoleARN != "" }

var (
	s3URIRE   = regexp.MustCompile(`^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$`)
	roleARNRE = regexp.MustCompile(`^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$`)
)

// validate checks the batch section's values.
func (b Batch) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("batch."+format, args...)) }
	if (b.S3URI == "") != (b.RoleARN == "") {
		bad("s3_uri and batch.role_arn: set both, or neither")
	}
	if b.S3URI != "" && !s3URIRE.MatchString(b.S3URI) {
		bad("s3_uri %q is not s3://bucket/prefix/", b.S3URI)
	}
	if b.RoleARN != "" && !roleARNRE.MatchString(b.RoleARN) {
		bad("role_arn %q is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)", b.RoleARN)
	}
	for _, n := range []struct {
		name string
		v    int64
	}{{"min_records", int64(b.MinRecords)}, {"max_records", int64(b.MaxRecords)}, {"max_file_bytes", b.MaxFileBytes},
		{"max_job_bytes", b.MaxJobBytes}, {"max_upload_bytes", b.MaxUploadBytes}, {"max_upload_lines", int64(b.MaxUploadLines)}} {
		if n.v < 0 {
			bad("%s must not be negative", n.name)
		}
	}
	if b.MinRecords > 0 && b.MaxRecords > 0 && b.MinRecords > b.MaxRecords {
		bad("min_records %d is above max_records %d", b.MinRecords, b.MaxRecords)
	}
	switch b.BelowMinimum {
	case "", "wait", "flex", "on_demand":
	default:
		bad("below_minimum %q is not wait, flex or on_demand", b.BelowMinimum)
	}
	switch b.RetryFailed {
	case "", "on_demand", "report":
	default:
		bad("retry_failed %q is not on_demand or report", b.RetryFailed)
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"max_wait", b.MaxWait}, {"poll_interval", b.PollInterval}, {"poll_max", b.PollMax}} {
		if d.v < 0 || (d.v > 0 && d.v.D() > 24*time.Hour) {
			bad("%s %s must be between 0 and 24h", d.name, d.v.D())
		}
	}
	if u := b.WebhookURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		bad("webhook_url %q is not an http(s) URL", u)
	}
	return errs
}

// validateRouteModes checks each route's mode.
func (c *Config) validateRouteModes() []error {
	var errs []error
	for _, r := range c.Routes {
		switch r.Mode {
		case "", "on_demand":
		case "batch":
			if !c.Batch.Enabled() && !c.Simulate {
				errs = append(errs, fmt.Errorf("routes %s: mode batch needs batch.s3_uri and batch.role_arn (or simulate)", r.Name))
			}
		default:
			errs = append(errs, fmt.Errorf("routes %s: mode %q is not on_demand or batch", r.Name, r.Mode))
		}
	}
	return errs
}

// BatchRoutes returns the names (lower case) of the routes of mode batch.
func (c *Config) BatchRoutes() map[string]bool {
	out := map[string]bool{}
	for _, r := range c.Routes {
		if r.Mode == "batch" {
			out[strings.ToLower(r.Name)] = true
		}
	}
	return out
}
