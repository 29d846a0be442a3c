package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awsbedrock "github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/penny-gateway/penny/internal/account"
	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/batchsim"
	"github.com/penny-gateway/penny/internal/bedrockbatch"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/sqlite"
)

// Under simulate, batch jobs run on an in-process S3 and control plane;
// these are their bucket and role unless the config names others.
const (
	simBatchURI  = "s3://penny-simulated-batch/penny/"
	simBatchRole = "arn:aws:iam::111122223333:role/penny-simulated-batch"
)

// lateDeferrer lets the dispatcher, built first, hand requests to the
// batch engine, built once the database is open.
type lateDeferrer struct{ e *batch.Engine }

func (d *lateDeferrer) Defer(ctx context.Context, req *llm.Request) error {
	if d.e == nil {
		return llm.Errorf(llm.KindUnsupported, "batch inference is not configured (batch.s3_uri and batch.role_arn, or --simulate)")
	}
	return d.e.Defer(ctx, req)
}

// batchParts is the batch engine, its store and what its jobs run on.
type batchParts struct {
	engine *batch.Engine
	store  *sqlite.BatchStore
	limits batch.Limits
	// closeJobs stops the in-process S3 and control plane (simulate).
	closeJobs func()
	stopRun   func()
}

// batchDeps are what the engine is assembled from.
type batchDeps struct {
	db       *sqlite.DB
	account  account.Options
	onDemand llm.Invoker
	recorder batch.Recorder
	// simulator answers the records of simulated jobs.
	simulator llm.Invoker
	log       *slog.Logger
}

// newBatch assembles the batch engine when batch inference is on (the
// config's batch section, simulate, or jobs given by the caller), else
// returns nil.
func newBatch(ctx context.Context, cfg config.Config, opts Options, d batchDeps) (*batchParts, error) {
	bc := cfg.Batch
	if !bc.Enabled() && !cfg.Simulate && opts.BatchJobs == nil {
		return nil, nil
	}
	p := &batchParts{store: sqlite.NewBatchStore(d.db), closeJobs: func() {}, stopRun: func() {},
		limits: batch.Limits{MaxBytes: bc.MaxUploadBytes, MaxLines: bc.MaxUploadLines}}
	policy := batch.Policy{S3URI: bc.S3URI, RoleARN: bc.RoleARN, KMSKeyID: bc.KMSKeyID, MinRecords: bc.MinRecords,
		MaxRecords: bc.MaxRecords, MaxFileBytes: bc.MaxFileBytes, MaxJobBytes: bc.MaxJobBytes, MaxWait: bc.MaxWait.D(),
		BelowMinimum: bc.BelowMinimum, RetryFailed: bc.RetryFailed, PollMin: bc.PollInterval.D(), PollMax: bc.PollMax.D(),
		WebhookURL: bc.WebhookURL}
	jobs, provider := opts.BatchJobs, "bedrock"
	switch {
	case jobs != nil:
	case cfg.Simulate:
		provider = "sim"
		if policy.S3URI == "" {
			policy.S3URI, policy.RoleARN = simBatchURI, simBatchRole
		}
		if policy.PollMin == 0 {
			policy.PollMin = time.Second
		}
		if policy.PollMax == 0 {
			policy.PollMax = 2 * time.Second
		}
		bucket, _, err := bedrockbatch.ParseS3URI(policy.S3URI)
		if err != nil {
			return nil, fmt.Errorf("batch.s3_uri: %w", err)
		}
		fs3, err := batchsim.NewS3(bucket)
		if err != nil {
			return nil, fmt.Errorf("batch: simulated S3: %w", err)
		}
		sim := d.simulator
		cp := batchsim.NewControlPlane(batchsim.Options{S3: fs3.Client(),
			Run: func(ctx context.Context, _ string, req *llm.Request) (*llm.Response, error) {
				return sim.Invoke(ctx, req)
			}})
		p.closeJobs = func() { cp.Close(); fs3.Close() }
		jobs = bedrockbatch.New(fs3.Client(), cp.Client(), policy.KMSKeyID)
	default:
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(regionOr(cfg.Bedrock.Region)))
		if err != nil {
			return nil, fmt.Errorf("batch: load AWS config: %w", err)
		}
		s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if bc.S3Endpoint != "" {
				o.BaseEndpoint, o.UsePathStyle = aws.String(bc.S3Endpoint), true
			}
		})
		bcl := awsbedrock.NewFromConfig(awsCfg, func(o *awsbedrock.Options) {
			if bc.Endpoint != "" {
				o.BaseEndpoint = aws.String(bc.Endpoint)
			}
		})
		jobs = bedrockbatch.New(s3c, bcl, policy.KMSKeyID)
	}
	if opts.BatchPolicy != nil {
		policy = opts.BatchPolicy(policy)
	}
	e, err := batch.New(batch.Options{Store: p.store, Jobs: jobs, Catalog: d.account.Catalog, Recorder: d.recorder, Account: account.Stage(d.account),
		OnDemand: d.onDemand, InLedger: p.store.HasRequest, Policy: policy, Provider: provider, Logger: d.log, Tick: opts.BatchTick})
	if err != nil {
		p.closeJobs()
		return nil, err
	}
	p.engine = e
	return p, nil
}

func regionOr(r string) string {
	if r == "" {
		return "us-east-1"
	}
	return r
}

// start runs the engine's loop over the chain until stop.
func (p *batchParts) start(chain llm.Invoker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.engine.Run(ctx, chain) }()
	p.stopRun = func() { cancel(); <-done }
}

// close stops the loop (what it did is saved as it went: a restart
// resumes) and the in-process fakes.
func (p *batchParts) close() error {
	if p == nil {
		return nil
	}
	p.stopRun()
	p.closeJobs()
	return nil
}

// deferRoute is the gateway's test for routes of mode batch.
func deferRoute(cfg config.Config) func(string) bool {
	names := cfg.BatchRoutes()
	return func(name string) bool { return names[strings.ToLower(name)] }
}
