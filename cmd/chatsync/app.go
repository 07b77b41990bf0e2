package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

// redisStartTimeout is how long a process waits for Redis at start.
const redisStartTimeout = 30 * time.Second

// app is what serve, work and dev share: the configuration, the logger, the
// metrics registry and the Redis connections, all made once.
type app struct {
	cfg  config
	log  *slog.Logger
	reg  *prometheus.Registry
	rdb  redis.UniversalClient // the store, the limiter, enqueueing
	conn asynq.RedisConnOpt    // asynq servers and asynqmon, same settings
	enq  *asynq.Client         // over rdb
	// tp traces requests, tasks and Chat calls; nil when tracing is off.
	tp          trace.TracerProvider
	stopTracing func(timeout time.Duration)
}

// start is how serve and work begin: it parses a command that takes no
// arguments, reads the configuration of mode m, builds the logger, connects
// to Redis and starts the optional pprof listener. stop releases them all.
func (p *process) start(ctx context.Context, m mode, name, usage string, args []string) (a *app, stop func(), err error) {
	if err := p.parseNoArgs(newFlagSet(name), args, name, usage); err != nil {
		return nil, nil, err
	}
	cfg, err := parseConfig(m, p.lookup)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(p.stderr, cfg.LogFormat, cfg.LogLevel)
	if a, err = newApp(ctx, cfg, log, false); err != nil {
		return nil, nil, err
	}
	stopPprof := startPprof(cfg.PprofAddr, log)
	return a, func() { stopPprof(); a.close() }, nil
}

// newApp connects to Redis (waiting up to redisStartTimeout for it) and
// checks it (version, not a cluster, eviction policy, replicas for
// REDIS_WAIT_REPLICAS); embedded (miniredis) skips the check.
func newApp(ctx context.Context, cfg config, log *slog.Logger, embedded bool) (*app, error) {
	rdb := cfg.Redis.client()
	if err := waitRedis(ctx, rdb, redisStartTimeout); err != nil {
		rdb.Close()
		return nil, err
	}
	if !embedded {
		if err := checkRedis(ctx, rdb, cfg.WaitReplicas, log); err != nil {
			rdb.Close()
			return nil, err
		}
	}
	tp, stopTracing, err := newTracing(ctx, cfg.Tracing, log)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	a := &app{
		cfg:  cfg,
		log:  log,
		reg:  newRegistry(),
		rdb:  rdb,
		conn: cfg.Redis.connOpt(),
		enq:  asynq.NewClientFromRedisClient(rdb),
	}
	a.tp, a.stopTracing = tp, stopTracing
	return a, nil
}

// close closes the Redis connections (the asynq client shares rdb's) and
// flushes the spans not yet exported, within SHUTDOWN_TIMEOUT.
func (a *app) close() {
	a.rdb.Close()
	a.stopTracing(a.cfg.ShutdownTimeout)
}

func (a *app) builder() tasks.Builder {
	return tasks.Builder{MaxRetry: a.cfg.MaxRetry, Retention: a.cfg.TaskRetention}
}

func (a *app) ready(ctx context.Context) error { return pingRedis(ctx, a.rdb) }

// newHTTP builds serve's two handlers: public, the webhook server
// (callbacks, events, the unread API, health) for HTTP_ADDR, and admin
// (/metrics, health and /monitoring/) for ADMIN_ADDR, which never goes
// behind the internet-facing proxy. The returned function releases
// asynqmon's connections.
func (a *app) newHTTP() (public, admin http.Handler, closeFn func() error, err error) {
	im, err := tasks.NewIntakeMetrics(a.reg)
	if err != nil {
		return nil, nil, nil, err
	}
	intake, err := tasks.NewIntake(tasks.IntakeConfig{Redis: a.rdb, Enqueuer: a.enq, Tasks: a.builder(), Metrics: im,
		WaitReplicas: a.cfg.WaitReplicas, WaitTimeout: a.cfg.WaitTimeout, TracerProvider: a.tp})
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := webhook.New(webhook.Config{
		SDKAppID:               a.cfg.SDKAppID,
		CallbackToken:          a.cfg.CallbackToken,
		AllowInsecureCallbacks: a.cfg.CallbackInsecure,
		EventSecrets:           a.cfg.EventSecrets,
		APIKey:                 a.cfg.APIKey,
		Snapshots:              tasks.NewStore(a.rdb, a.cfg.SnapshotTTL),
		AutoRead:               a.cfg.AutoRead,
		Intake:                 intake,
		Ready:                  a.ready,
		Logger:                 a.log.With("component", "webhook"),
		Registerer:             a.reg,
		TracerProvider:         a.tp,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	registerQueueMetrics(a.reg, asynq.NewInspectorFromRedisClient(a.rdb))
	// Registered even with the UI off, so that rules find the counter.
	am, err := newAdminMetrics(a.reg)
	if err != nil {
		return nil, nil, nil, err
	}
	mon, closeMon := newMonitoring(monitoringConfig{
		User:     a.cfg.MonitoringUser,
		Password: a.cfg.MonitoringPassword,
		ReadOnly: a.cfg.MonitoringReadOnly,
		Redis:    a.conn,
		Metrics:  am,
	})
	return srv, adminMux(a.reg, a.ready, mon), closeMon, nil
}

// startPublic serves public (see newHTTP) on HTTP_ADDR, at most
// MAX_CONNECTIONS connections at once, counted in the connection metrics it
// registers. Start it before the admin listener, so that they are on
// /metrics from the start.
func (a *app) startPublic(public http.Handler) (*listener, error) {
	m, err := newConnMetrics(a.reg)
	if err != nil {
		return nil, err
	}
	return startListener(a.cfg.HTTPAddr, "HTTP_ADDR", a.cfg.MaxConnections, m, public, a.log)
}

// newWorker builds work's asynq server and handlers. chatBaseURL, when
// set, overrides the configured Chat endpoint (dev's emulator).
func (a *app) newWorker(chatBaseURL string) (*asynq.Server, *asynq.ServeMux, error) {
	observe, err := tasks.NewChatMetrics(a.reg)
	if err != nil {
		return nil, nil, err
	}
	region, base := a.cfg.Region, a.cfg.BaseURL
	if chatBaseURL != "" {
		region, base = "", chatBaseURL
	}
	chat, err := chatapi.New(chatapi.Config{
		SDKAppID:  a.cfg.SDKAppID,
		SecretKey: a.cfg.SecretKey,
		Admin:     a.cfg.Admin,
		Region:    region,
		BaseURL:   base,
		Observe:   observe,
		// The worker's spans and the Chat calls' spans share a.tp.
		TracerProvider: a.tp,
	})
	if err != nil {
		return nil, nil, err
	}
	w, err := tasks.NewWorker(tasks.Config{
		Chat:                 chat,
		Redis:                a.rdb,
		Enqueuer:             a.enq,
		Tasks:                a.builder(),
		RateLimit:            a.cfg.RateLimit,
		ReceiptBatchMax:      a.cfg.ReceiptBatchMax,
		SnapshotTTL:          a.cfg.SnapshotTTL,
		ConversationInterval: a.cfg.ConversationInterval,
		Debounce:             a.cfg.Debounce,
		SinkURL:              a.cfg.SinkURL,
		SinkSecret:           a.cfg.SinkSecret,
		SinkAllowHTTP:        a.cfg.SinkAllowHTTP, // else http:// is refused
		Logger:               a.log,               // its asynq adapter adds component=asynq
		Registerer:           a.reg,
		TracerProvider:       a.tp,
	})
	if err != nil {
		return nil, nil, err
	}
	mux := asynq.NewServeMux()
	w.Register(mux)
	srv := asynq.NewServer(a.conn, w.ServerConfig(asynq.Config{
		Concurrency:     a.cfg.Concurrency,
		Queues:          a.cfg.Queues,
		LogLevel:        asynqLevel(a.cfg.LogLevel),
		ShutdownTimeout: a.cfg.ShutdownTimeout,
	}))
	return srv, mux, nil
}
