// Package app assembles a running Penny from a Config: catalog, ledger,
// providers, the gateway and its HTTP server. serve, demo and bench all
// start Penny through it, so they run exactly the same code.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/penny-gateway/penny/internal/account"
	"github.com/penny-gateway/penny/internal/anomaly"
	"github.com/penny-gateway/penny/internal/auth"
	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/cache"
	"github.com/penny-gateway/penny/internal/cache/memory"
	"github.com/penny-gateway/penny/internal/cache/redis"
	"github.com/penny-gateway/penny/internal/catalog"
	"github.com/penny-gateway/penny/internal/config"
	"github.com/penny-gateway/penny/internal/dispatch"
	"github.com/penny-gateway/penny/internal/fallback"
	"github.com/penny-gateway/penny/internal/gateway"
	"github.com/penny-gateway/penny/internal/govern"
	"github.com/penny-gateway/penny/internal/keys"
	"github.com/penny-gateway/penny/internal/ledger"
	"github.com/penny-gateway/penny/internal/llm"
	"github.com/penny-gateway/penny/internal/monitor"
	"github.com/penny-gateway/penny/internal/promptcache"
	"github.com/penny-gateway/penny/internal/promptpolicy"
	"github.com/penny-gateway/penny/internal/provider/bedrock"
	"github.com/penny-gateway/penny/internal/provider/openai"
	"github.com/penny-gateway/penny/internal/provider/sim"
	"github.com/penny-gateway/penny/internal/responses"
	"github.com/penny-gateway/penny/internal/route"
	"github.com/penny-gateway/penny/internal/servicetier"
	"github.com/penny-gateway/penny/internal/sqlite"
	"github.com/penny-gateway/penny/internal/templates"
	"github.com/penny-gateway/penny/internal/tokens"
	"github.com/penny-gateway/penny/internal/tracing"
)

// App is an assembled Penny.
type App struct {
	Config  config.Config
	Catalog *catalog.Catalog
	DB      *sqlite.DB // the ledger, the keys, the stored responses and the batch queue; the stores are made from it
	Store   *sqlite.LedgerStore
	// Responses are the stored Responses API answers.
	Responses *sqlite.ResponseStore
	Ledger    *ledger.Writer
	// Anomaly watches spend, request rates and repeated prompts.
	Anomaly *anomaly.Detector
	// Keys and Auth are nil when auth is off.
	Keys    *sqlite.KeyStore
	Auth    *auth.Authenticator
	Gateway *gateway.Server
	Log     *slog.Logger
	// Batch is the batch engine and BatchStore its queue; nil when batch
	// inference is off.
	Batch      *batch.Engine
	BatchStore *sqlite.BatchStore
	batch      *batchParts

	srv      *http.Server
	listener net.Listener
	tls      bool
	// admin serves the admin listener (nil when admin_listen is off).
	admin         *http.Server
	adminListener net.Listener
	adminOpen     bool
	region        string
	// cancel ends the base context of every request: used when a
	// graceful shutdown runs out of time.
	cancel context.CancelCauseFunc
	cache  cache.Backend
	// stopTracing flushes and stops trace export.
	stopTracing func(context.Context) error
	// stopSweep stops the deletion of expired stored responses and waits
	// for it.
	stopSweep func()
}

// Options adjust assembly beyond the Config.
type Options struct {
	Logger *slog.Logger
	// Bedrock overrides the Bedrock provider options (tests point it at a
	// fake Bedrock).
	Bedrock *bedrock.Options
	// BatchJobs, if set, is where batch jobs run instead of the AWS
	// clients the config implies (tests give S3 and control-plane
	// clients of fakes); it turns batch inference on.
	BatchJobs batch.Jobs
	// BatchPolicy, if set, adjusts the engine's policy (tests shorten
	// the polls); BatchTick is the engine's tick (default 1s).
	BatchPolicy func(batch.Policy) batch.Policy
	BatchTick   time.Duration
}

// New builds every part. When the config does not simulate, it checks that
// AWS credentials can be found and fails with a clear message if not.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cat, err := cfg.LoadCatalog()
	if err != nil {
		return nil, err
	}
	routes, err := route.NewTable(cfg.RouteConfigs(), cat.CanonicalID)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	counter, err := tokens.New()
	if err != nil {
		return nil, err
	}
	deferrer := &lateDeferrer{}
	dopts := dispatch.Options{Catalog: cat, Region: cfg.Bedrock.Region, Providers: map[string]llm.Invoker{}, Defer: deferrer}
	if cfg.Simulate {
		if dopts.Region == "" {
			dopts.Region = bedrock.DefaultRegion
		}
		dopts.Simulate = sim.New(cat, counter, simOptions(cfg.Simulator))
	} else {
		bo := bedrock.Options{Region: cfg.Bedrock.Region, BaseEndpoint: cfg.Bedrock.Endpoint, Timeout: cfg.Bedrock.Timeout.D()}
		if opts.Bedrock != nil {
			bo = *opts.Bedrock
		}
		bp, err := bedrock.New(ctx, bo)
		if err != nil {
			return nil, err
		}
		if err := bp.CheckCredentials(ctx); err != nil {
			return nil, fmt.Errorf("%w\n(to try Penny without AWS, run `penny serve --simulate` or `penny demo`)", err)
		}
		dopts.Providers["bedrock"] = bp
		if dopts.Region == "" {
			dopts.Region = bp.Region()
		}
	}
	for _, u := range cfg.Upstreams {
		key := ""
		if u.APIKeyEnv != "" {
			if key = os.Getenv(u.APIKeyEnv); key == "" {
				return nil, fmt.Errorf("upstream %s: api_key_env names %s, which is not set", u.Name, u.APIKeyEnv)
			}
		}
		p, err := openai.New(openai.Options{Name: u.Name, BaseURL: u.BaseURL, APIKey: key, Timeout: u.Timeout.D()})
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", u.Name, err)
		}
		dopts.Providers[u.Name] = p
	}
	if !cfg.Simulate {
		for _, m := range cat.Models() {
			if _, ok := dopts.Providers[m.Provider]; !ok {
				return nil, fmt.Errorf("catalog model %s is served by provider %q, but no upstream of that name is configured (upstreams:)", m.ID, m.Provider)
			}
		}
	}
	dispatcher, err := dispatch.New(dopts)
	if err != nil {
		return nil, err
	}
	// From here on New owns resources: undo releases them, newest first,
	// if a later step fails.
	var undo []func()
	fail := func(err error) (*App, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return nil, err
	}
	strict := cfg.Ledger.Durability == config.LedgerStrict
	db, err := sqlite.OpenURLWith(cfg.Database, sqlite.Options{SyncFull: strict})
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	undo = append(undo, func() { db.Close() })
	store := sqlite.NewLedgerStore(db)
	reg := prometheus.NewRegistry()
	ledgerMetrics, err := monitor.NewLedgerMetrics(reg)
	if err != nil {
		return fail(err)
	}
	w, err := ledger.OpenWriter(store, ledger.WriterOptions{
		QueueSize: cfg.Ledger.QueueSize, BatchSize: cfg.Ledger.BatchSize,
		FlushInterval: cfg.Ledger.FlushInterval.D(), MaxWait: cfg.Ledger.MaxWait.D(),
		SpoolPath: spoolPath(cfg.Ledger, db), Strict: strict, Refuse: cfg.Ledger.OnFailure == config.LedgerRefuse,
		OnCommit: ledgerMetrics.ObserveCommit, Logger: log,
	})
	if err != nil {
		return fail(fmt.Errorf("ledger: %w", err))
	}
	undo = append(undo, func() { w.Close(context.Background()) })
	if err := ledgerMetrics.Watch(w); err != nil {
		return fail(err)
	}
	rs := sqlite.NewResponseStore(db, nil)
	retention := cfg.Responses.Retention.D()
	stopSweep := sweep(rs, retention, log)
	undo = append(undo, stopSweep)
	var ks *sqlite.KeyStore
	var authn *auth.Authenticator
	if cfg.AuthRequired() {
		sealer, err := keys.SealerFromEnv(os.Getenv)
		if err != nil {
			return fail(err)
		}
		if ks, err = sqlite.NewKeyStore(ctx, db, sqlite.KeyOptions{Sealer: sealer}); err != nil {
			return fail(fmt.Errorf("keys: %w", err))
		}
		if n, err := ks.SealedKeys(ctx); err == nil && n > 0 && sealer == nil {
			log.Warn("the key database holds sealed SigV4 secrets but PENNY_KEYS_SECRET is not set: those keys cannot sign", "sealed", n)
		}
		authn = auth.New(ks, auth.Options{Logger: log})
		undo = append(undo, func() { authn.Close() })
	}
	backend, err := cacheBackend(cfg.Cache, log)
	if err != nil {
		return fail(err)
	}
	undo = append(undo, func() { backend.Close() })
	var tstore *templates.Store
	if cfg.TemplatesDir != "" {
		if tstore, err = templates.Load(cfg.TemplatesDir); err != nil {
			return fail(fmt.Errorf("templates %s: %w", cfg.TemplatesDir, err))
		}
	}
	var detectorRef *anomaly.Detector
	limiter := govern.NewLimiter(govern.RateOptions{Counter: counter})
	// Per-tenant state past limits.max_tenants is shared or dropped, and
	// counted here.
	budgetOverflow := prometheus.NewCounter(prometheus.CounterOpts{Name: "penny_tracked_overflow_total",
		Help:        overflowHelp,
		ConstLabels: prometheus.Labels{"state": "budget"}})
	budget, err := govern.NewBudget(govern.BudgetOptions{
		Catalog: cat, Counter: counter, Rules: cfg.Budgets, Logger: log,
		MaxSubjects: cfg.Limits.MaxTenants, Evicted: func(n int) { budgetOverflow.Add(float64(n)) },
		SpentBy: func(ctx context.Context, scope govern.Scope, value string, since time.Time) (llm.Money, error) {
			by, group := govern.SpentQuery(scope, value)
			q := ledger.SummaryQuery{Since: since, By: by}
			if scope == govern.ScopeTenant {
				q.Tenant = value // one tenant's records, not every tenant's
			}
			sums, err := store.Summarize(ctx, q)
			if err != nil {
				return 0, err
			}
			for _, s := range sums {
				if s.Key == group {
					return s.Cost, nil
				}
			}
			return 0, nil
		},
		// Budget thresholds go wherever anomaly alerts go (log, webhook,
		// GET /admin/alerts); the detector is built below.
		Alert: func(a govern.Alert) { publishBudget(detectorRef, a) },
	})
	if err != nil {
		return fail(fmt.Errorf("config: budgets: %w", err))
	}
	pcStats := &promptcache.Stats{}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "penny_prompt_cache_requests_total",
			Help: "Requests Penny added Bedrock prompt-cache checkpoints to."}, func() float64 { return float64(pcStats.Requests()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "penny_prompt_cache_checkpoints_total",
			Help: "Bedrock prompt-cache checkpoints Penny inserted."}, func() float64 { return float64(pcStats.Checkpoints()) }))
	metrics, err := monitor.New(reg)
	if err != nil {
		return fail(err)
	}
	sinks := []anomaly.Sink{anomaly.LogSink(log)}
	if u := cfg.Alerts.WebhookURL; u != "" {
		format := cfg.Alerts.WebhookFormat
		if format == "" {
			format = "json"
		}
		hook, err := anomaly.WebhookSink(u, format, anomaly.WebhookOptions{Logger: log})
		if err != nil {
			return fail(fmt.Errorf("alerts: %w", err))
		}
		sinks = append(sinks, hook)
	}
	detector := anomaly.New(anomaly.Config{Sinks: sinks, Throttle: throttle(cfg.Alerts.ThrottleLoops, limiter),
		MaxSubjects: cfg.Limits.MaxTenants})
	detectorRef = detector
	reg.MustRegister(budgetOverflow, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "penny_tracked_overflow_total",
		Help:        overflowHelp,
		ConstLabels: prometheus.Labels{"state": "anomaly"}}, func() float64 { return float64(detector.Overflowed()) }))
	undo = append(undo, func() { detector.Close(context.Background()) })
	tp, stopTracing, err := tracing.Setup(ctx, tracing.Options{Endpoint: cfg.Tracing.Endpoint,
		SampleRatio: cfg.Tracing.SampleRatio, Headers: cfg.Tracing.Headers})
	if err != nil {
		return fail(fmt.Errorf("tracing: %w", err))
	}
	undo = append(undo, func() { stopTracing(context.Background()) })
	adminOpen, err := adminOpen(cfg)
	if err != nil {
		return fail(fmt.Errorf("config: %w", err))
	}
	adminAddr := ""
	if cfg.AdminEnabled() {
		adminAddr = cfg.AdminListen
		if adminOpen && !Loopback(adminAddr) {
			log.Warn("admin_auth is off and the admin listener is on a non-loopback address: anyone who can connect reads "+
				"every tenant's metrics, alerts and usage", "admin_listen", adminAddr)
		}
	}
	recorder := monitor.Recorder{Next: w, Metrics: metrics, Anomaly: detector}
	bp, err := newBatch(ctx, cfg, opts, batchDeps{db: db, account: account.Options{Catalog: cat, Counter: counter},
		onDemand: dispatcher, recorder: recorder, simulator: batchSimulator(cfg, cat, counter), log: log})
	if err != nil {
		return fail(err)
	}
	undo = append(undo, func() { bp.close() })
	var batchOpts gateway.Options
	if bp != nil {
		deferrer.e = bp.engine
		batchOpts = gateway.Options{Batch: bp.engine, BatchStore: bp.store, BatchLimits: bp.limits, DeferRoute: deferRoute(cfg)}
	}
	over := newRouteOverrides(cfg.Routes)
	promptCacheOf := forRoute(over, func(r *config.Route) *config.PromptCache { return r.PromptCache })
	routeTier := forRoute(over, func(r *config.Route) *servicetier.Policy {
		if r.ServiceTier == "" && r.Latency != "tolerant" {
			return nil
		}
		return &servicetier.Policy{Tier: llm.ServiceTier(r.ServiceTier), Tolerant: r.Latency == "tolerant"}
	})
	gw, err := gateway.New(gateway.Options{
		Stages: chain(stages{
			tracer:    tp,
			account:   account.Options{Catalog: cat, Counter: counter},
			templates: tstore,
			limiter:   limiter,
			routes:    routes,
			policy: promptpolicy.Options{
				Default: cfg.PromptPolicy, Counter: counter, Logger: log,
				PolicyFor: forRoute(over, func(r *config.Route) *promptpolicy.Policy { return r.PromptPolicy }),
				OnApply:   func(req *llm.Request, e promptpolicy.Effect) { req.Meta.PromptTokensSaved += e.TokensSaved },
			},
			cache: cache.Options{
				Backend: backend, Default: cfg.Cache.Policy, ModelID: cat.CanonicalID, Logger: log,
				PolicyFor:   forRoute(over, func(r *config.Route) *cache.Policy { return r.Cache }),
				CallTimeout: cfg.Limits.RequestTimeout.D(),
			},
			budget: budget,
			promptCache: promptcache.Options{
				Catalog: cat, Counter: counter, Stats: pcStats, Logger: log,
				PolicyFor: func(req *llm.Request) promptcache.Policy {
					p, ok := promptCacheOf(req)
					if !ok {
						p = cfg.PromptCache
					}
					return promptcache.Policy{Enabled: p.Enabled, TTL: p.TTL}
				},
			},
			tier: servicetier.Options{Catalog: cat, PolicyFor: routeTier},
			fallback: fallback.Options{Catalog: cat, Logger: log,
				ListFor: forRoute(over, func(r *config.Route) *fallback.List { return r.Fallbacks })},
		}),
		Upstream:       dispatcher,
		Recorder:       recorder,
		Catalog:        cat,
		RouteNames:     routes.Names(),
		Region:         dopts.Region,
		Counter:        counter,
		Logger:         log,
		MaxBodyBytes:   cfg.Limits.MaxBodyBytes,
		ReadTimeout:    cfg.Limits.ReadTimeout.D(),
		LargeBodyBytes: cfg.Limits.LargeBodyBytes, MaxConcurrentLargeBodies: cfg.Limits.MaxConcurrentLargeBodies,
		LargeBodyWait: cfg.Limits.LargeBodyWait.D(),
		MetaLimits: keys.MetaLimits{MaxTags: cfg.Limits.MaxTags, MaxTagKeyBytes: cfg.Limits.MaxTagKeyBytes,
			MaxTagValueBytes: cfg.Limits.MaxTagValueBytes, MaxTenantBytes: cfg.Limits.MaxTenantBytes},
		RequestTimeout:    cfg.Limits.RequestTimeout.D(),
		AccessLog:         cfg.Log.Requests,
		Metrics:           promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Alerts:            func() any { return detector.Recent() },
		Usage:             store,
		AdminOpen:         adminOpen,
		AdminAddr:         adminAddr,
		Auth:              authn,
		Responses:         rs,
		ResponseRetention: retention,
		Batch:             batchOpts.Batch,
		BatchStore:        batchOpts.BatchStore,
		BatchLimits:       batchOpts.BatchLimits,
		DeferRoute:        batchOpts.DeferRoute,
	})
	if err != nil {
		return fail(err)
	}
	a := &App{Config: cfg, Catalog: cat, DB: db, Store: store, Responses: rs, Ledger: w, Keys: ks, Auth: authn, Gateway: gw, Log: log,
		Anomaly: detector, region: dopts.Region, cache: backend, stopTracing: stopTracing, stopSweep: stopSweep, adminOpen: adminOpen}
	if bp != nil {
		a.Batch, a.BatchStore, a.batch = bp.engine, bp.store, bp
		bp.start(gw.Chain())
	}
	return a, nil
}

// sweep deletes expired stored responses in the background, at most an
// hour (or one retention period) after they expire; they are never
// served after that anyway. The returned func stops it and waits.
func sweep(st responses.Store, retention time.Duration, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		responses.Sweep(ctx, st, responses.SweepOptions{Every: min(time.Hour, retention), Logger: log})
	}()
	return func() { cancel(); <-done }
}

// Listen binds the configured address (use "127.0.0.1:0" for a free port).
// The server speaks HTTP/1.1 and HTTP/2 on the same port: h2c with prior
// knowledge on plain HTTP (the AWS SDK for JavaScript's default), h2 by
// ALPN with TLS.
func (a *App) Listen() error {
	ln, err := net.Listen("tcp", a.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.Config.Listen, err)
	}
	a.listener = ln
	base, cancel := context.WithCancelCause(context.Background())
	a.cancel = cancel
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	a.srv = &http.Server{
		Handler:     a.Gateway.Handler(),
		BaseContext: func(net.Listener) context.Context { return base },
		// The body's deadline (limits.read_timeout) is set per request by
		// the gateway, from when it starts reading, not as the server's
		// ReadTimeout: that would also count the wait for a large-body
		// slot, and answer a slow client with a bare i/o error.
		ReadHeaderTimeout: a.Config.Limits.ReadHeaderTimeout.D(),
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		Protocols:         &protocols,
	}
	if t := a.Config.TLS; t.Enabled() {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		a.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		a.tls = true
	}
	if a.Config.AdminEnabled() {
		aln, err := net.Listen("tcp", a.Config.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin_listen %s: %w", a.Config.AdminListen, err)
		}
		a.adminListener = aln
		a.admin = &http.Server{
			Handler:           a.Gateway.AdminHandler(),
			ReadHeaderTimeout: a.Config.Limits.ReadHeaderTimeout.D(),
			ReadTimeout:       a.Config.Limits.ReadTimeout.D(), // nothing streams here
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		}
	}
	return nil
}

// AdminURL is the admin listener's http:// URL, after Listen; "" when
// admin_listen is off. It is plain HTTP: on loopback by default.
func (a *App) AdminURL() string {
	if a.adminListener == nil {
		return ""
	}
	return "http://" + a.adminListener.Addr().String()
}

// AdminOpen reports whether the admin listener serves without a key.
func (a *App) AdminOpen() bool { return a.adminOpen || a.Auth == nil }

// adminOpen decides whether the admin listener needs an admin key: not on
// a loopback address unless admin_auth is required, always elsewhere
// unless admin_auth is off. With auth off there are no keys, so a
// non-loopback admin listener must be opened explicitly.
func adminOpen(cfg config.Config) (bool, error) {
	if !cfg.AdminEnabled() {
		return false, nil
	}
	switch cfg.AdminAuth {
	case "off":
		return true, nil
	case "required":
		return false, nil
	}
	if Loopback(cfg.AdminListen) {
		return true, nil
	}
	if !cfg.AuthRequired() {
		return false, fmt.Errorf("admin_listen %s is not a loopback address and auth is off, so no admin key can be asked for: "+
			"set admin_auth: off to serve every tenant's metrics and usage there without a key, or use a loopback address", cfg.AdminListen)
	}
	return false, nil
}

// Loopback reports whether a listen address host:port names a loopback
// host ("localhost" or a loopback IP), so that only this machine can
// connect; an empty host listens on every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Addr is the bound address, after Listen.
func (a *App) Addr() string { return a.listener.Addr().String() }

// URL is http://Addr, or https:// with TLS.
func (a *App) URL() string {
	if a.tls {
		return "https://" + a.Addr()
	}
	return "http://" + a.Addr()
}

// Serve serves the API and the admin listener until Shutdown; it returns
// nil after a clean shutdown, or the first listener's failure.
func (a *App) Serve() error {
	errc := make(chan error, 2)
	n := 1
	go func() {
		if a.tls {
			errc <- a.srv.ServeTLS(a.listener, "", "")
		} else {
			errc <- a.srv.Serve(a.listener)
		}
	}()
	if a.admin != nil {
		n++
		go func() { errc <- a.admin.Serve(a.adminListener) }()
	}
	var first error
	for range n {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
			// One listener failed: stop the other so Serve returns.
			a.srv.Close()
			if a.admin != nil {
				a.admin.Close()
			}
		}
	}
	return first
}

// Shutdown stops accepting requests and waits for in-flight ones (streams
// included) until ctx ends; requests still running then are cancelled,
// and recorded as such. Then it closes the ledger writer, which writes
// every queued record or, if the database cannot take them, keeps them in
// the spool for the next start; its error counts records lost (see
// LedgerSummary). Then it closes the database.
func (a *App) Shutdown(ctx context.Context) error {
	var errs []error
	adminDone := make(chan struct{})
	go func() {
		defer close(adminDone)
		if a.admin != nil {
			// Nothing on it streams: what does not finish in time is cut.
			if err := a.admin.Shutdown(ctx); err != nil {
				a.admin.Close()
			}
		}
	}()
	if a.srv != nil {
		if err := a.srv.Shutdown(ctx); err != nil {
			a.Log.Warn("shutdown: cancelling requests still in flight", "err", err)
			// Cancelled with a cause, streams end with an error event
			// or exception frame saying so rather than a bare close;
			// give the handlers a moment to write it.
			a.cancel(gateway.ErrShutdown)
			grace, stop := context.WithTimeout(context.Background(), 2*time.Second)
			a.Gateway.Wait(grace)
			stop()
			a.srv.Close()
		}
		a.cancel(gateway.ErrShutdown)
	}
	<-adminDone // its handlers read the database closed below
	// Handlers write their record as they return; wait for the last ones.
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelWait()
	if err := a.Gateway.Wait(waitCtx); err != nil {
		errs = append(errs, err)
	}
	// The batch engine stops before the ledger closes: the records it
	// wrote are flushed, and what it had not done a restart resumes.
	a.batch.close()
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	closeErr := a.Ledger.Close(flushCtx)
	if n := a.Ledger.Stats().Failed; n > 0 {
		// Lost while draining or at any time before: a run that lost
		// records does not end as if it had not.
		errs = append(errs, fmt.Errorf("ledger: %d records were lost this run (see the log)", n))
	} else if closeErr != nil {
		errs = append(errs, fmt.Errorf("flushing ledger: %w", closeErr))
	}
	if err := a.stopTracing(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("flushing traces: %w", err))
	}
	if err := a.Anomaly.Close(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("closing alert sinks: %w", err))
	}
	if err := a.cache.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing cache: %w", err))
	}
	if a.Auth != nil {
		a.Auth.Close() // records the last key uses in a.DB
	}
	a.stopSweep()
	if err := a.DB.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing database: %w", err))
	}
	return errors.Join(errs...)
}

// spoolPath is where the ledger keeps records its database cannot take:
// ledger.spool_path, else next to a file database; an in-memory database
// has none.
func spoolPath(l config.Ledger, db *sqlite.DB) string {
	if l.SpoolPath != "" || db.Path() == sqlite.MemoryPath {
		return l.SpoolPath
	}
	return db.Path() + ".spool"
}

// batchSimulator answers simulated batch jobs' records: the simulator
// of the config, without its latency (a job's records are not paced).
func batchSimulator(cfg config.Config, cat *catalog.Catalog, counter *tokens.Counter) llm.Invoker {
	if !cfg.Simulate {
		return nil
	}
	o := simOptions(cfg.Simulator)
	o.TimeScale = 0
	return sim.New(cat, counter, o)
}

func simOptions(s config.Simulator) sim.Options {
	o := sim.Options{Seed: s.Seed, TimeScale: 1, Faults: s.Faults}
	if s.TimeScale != nil {
		o.TimeScale = *s.TimeScale
	}
	return o
}

// LedgerSummary says what became of this run's ledger records, for the
// last line of `penny serve`: written to the database (directly or from
// the spool), waiting in the spool, lost.
func (a *App) LedgerSummary() string {
	st := a.Ledger.Stats()
	s := fmt.Sprintf("%d ledger records written", st.Written+st.Replayed)
	if st.InSpool > 0 {
		s += fmt.Sprintf(", %d kept in the spool %s (replayed at the next start)", st.InSpool, a.Ledger.Health().SpoolPath)
	}
	if st.Queued > 0 {
		s += fmt.Sprintf(", %d still queued (lost)", st.Queued)
	}
	if st.Failed > 0 {
		s += fmt.Sprintf(", %d LOST", st.Failed)
	}
	return s
}

// Region is the Bedrock region requests go to (for the simulator, the
// configured or default region whose inference profiles are used).
func (a *App) Region() string { return a.region }

// cacheBackend builds the response cache's backend from the config.
func cacheBackend(c config.Cache, log *slog.Logger) (cache.Backend, error) {
	if c.Backend == "" || c.Backend == "memory" {
		return memory.New(c.MaxBytes), nil
	}
	redis.SetLogger(log)
	b, err := redis.New(c.Backend)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.Ping(pctx); err != nil {
		log.Warn("the Redis response cache does not answer; requests go upstream until it does", "err", err)
	}
	return b, nil
}

// overflowHelp describes penny_tracked_overflow_total, one series per
// state that bounds its tenants.
const overflowHelp = "Tenants or keys past limits.max_tenants: records the anomaly detector folded into its overflow series, budget counters dropped."

// throttle is the anomaly detector's hook on runaway loops: it penalizes
// the offending key in the rate limiter when the config asks for it.
func throttle(on bool, l *govern.Limiter) func(keyID string, d time.Duration) {
	if !on {
		return nil
	}
	return l.Penalize
}

// publishBudget turns a budget threshold crossing into an alert.
func publishBudget(d *anomaly.Detector, a govern.Alert) {
	if d == nil {
		return
	}
	name := a.Rule
	if name == "" {
		name = "monthly budget of key " + a.KeyID
	}
	d.Publish(anomaly.Alert{
		Kind: anomaly.KindBudget, Tenant: a.Tenant, KeyID: a.KeyID,
		Value: a.Spent.Dollars(), Threshold: a.Budget.Dollars() * float64(a.Threshold) / 100, Unit: "usd", At: a.At,
		Message: fmt.Sprintf("%s reached %d %% ($%s of $%s)", name, a.Threshold, a.Spent, a.Budget),
	})
}
