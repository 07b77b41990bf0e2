package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatsync/chatsync/chatapi"
)

// Enqueuer puts tasks into asynq. *asynq.Client satisfies it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Defaults for the unread fields of Config.
const (
	DefaultDebounce = 500 * time.Millisecond
	DefaultMaxDelay = 5 * time.Second
	// DefaultDelayedTaskCheckInterval is how often ServerConfig has asynq
	// move due retries and scheduled tasks to their queues: rate-limited
	// retries and debounced refreshes come due within a second.
	DefaultDelayedTaskCheckInterval = 200 * time.Millisecond
	// DefaultTaskCheckInterval is how long ServerConfig has an idle asynq
	// server wait before looking at empty queues again. Below Chat's budget
	// the queues are mostly empty and this wait is most of an event's
	// latency (half of it on average): 50 ms costs an idle work process 20
	// cheap Redis calls a second.
	DefaultTaskCheckInterval = 50 * time.Millisecond
	DefaultSinkTimeout       = 10 * time.Second
)

// Config configures a Worker. Chat, Redis and Enqueuer are required; zero
// values of the rest mean the defaults.
type Config struct {
	Chat     *chatapi.Client       // makes the Chat REST calls
	Redis    redis.UniversalClient // the rate limiter and the unread store
	Enqueuer Enqueuer              // schedules refresh and sink tasks
	Tasks    Builder               // options of the tasks the worker schedules

	// RateLimit is the calls per second allowed for each Chat API across
	// every worker process sharing Redis (default 200, Chat's limit).
	RateLimit int
	// Headroom is the fraction of RateLimit left unused to absorb network
	// jitter between a grant and the call's arrival at Chat (default 0.04:
	// 200/s grants 192/s). Negative means none.
	Headroom float64
	// MaxWait is the longest a handler waits for the rate limit before
	// giving the task back to asynq with a *RateLimitError (default 1 s).
	// Negative means never wait.
	MaxWait time.Duration

	// ReceiptBatchMax is the most MsgKeys one c2c_msg_read_receipt call
	// carries (default DefaultReceiptBatchMax, at most MaxReceiptBatch).
	ReceiptBatchMax int

	// ConversationInterval is the least time between two calls of one API
	// for one conversation (default DefaultConversationInterval; negative:
	// none). A full receipt batch is not held back by it.
	ConversationInterval time.Duration

	// SnapshotTTL is how long a user's unread snapshot is kept after its
	// last change (default DefaultSnapshotTTL).
	SnapshotTTL time.Duration

	// Debounce is how long a user's refresh waits after the last request
	// before it measures (default 500 ms).
	Debounce time.Duration
	// MaxDelay is the longest continuing requests may postpone a refresh,
	// counted from the first (default 5 s).
	MaxDelay time.Duration

	// Backoff is the retry policy for transient failures.
	Backoff Backoff
	// ChatRetryAfter is how long a task waits after Chat answered with a
	// rate-limit code (default 1 s). It does not count as a retry.
	ChatRetryAfter time.Duration

	// SinkURL, when set, receives an unread.updated event (signed per
	// Standard Webhooks with SinkSecret, "whsec_…" base64) after a user's
	// snapshot changes. Notifications are debounced like refreshes.
	SinkURL    string
	SinkSecret string
	// SinkAllowHTTP accepts a plain http:// SinkURL; by default only
	// https:// is accepted, the events carry user data and a signature.
	SinkAllowHTTP bool
	// HTTPClient posts to the sink (default: a client with a 10 s timeout).
	// Redirects are never followed, whatever its CheckRedirect says.
	HTTPClient *http.Client

	Logger     *slog.Logger          // default: discard
	Registerer prometheus.Registerer // metrics are registered here when set
	// TracerProvider, when set, traces every task run and carries the
	// trace context on (see trace.go). Nil: no tracing.
	TracerProvider trace.TracerProvider
	// Now stamps measurements and drives the debounce (default time.Now).
	// asynq schedules by the real clock whatever Now says.
	Now func() time.Time
}

// Worker runs chatsync's tasks: it registers handlers on an asynq.ServeMux
// and supplies the retry policy for asynq.Config. It is safe for
// concurrent use.
type Worker struct {
	chat           *chatapi.Client
	rdb            redis.UniversalClient
	lim            *limiter
	enq            Enqueuer
	tasks          Builder
	store          *Store
	receiptMax     int
	interval       time.Duration
	debounce       time.Duration
	maxDelay       time.Duration
	backoff        Backoff
	chatRetryAfter time.Duration
	sink           *sink // nil without a sink
	log            *slog.Logger
	metrics        *metrics // nil without a Registerer
	now            func() time.Time
	tracer         trace.Tracer // nil: no tracing
}

// NewWorker returns a Worker for cfg, or an error naming every invalid
// field or a metric that could not be registered.
func NewWorker(cfg Config) (*Worker, error) {
	var problems []string
	if cfg.Chat == nil {
		problems = append(problems, "Chat is required")
	}
	if cfg.Redis == nil {
		problems = append(problems, "Redis is required")
	}
	if cfg.Enqueuer == nil {
		problems = append(problems, "Enqueuer is required")
	}
	if cfg.RateLimit < 0 {
		problems = append(problems, "RateLimit must not be negative")
	}
	if cfg.ReceiptBatchMax < 0 || cfg.ReceiptBatchMax > MaxReceiptBatch {
		problems = append(problems, fmt.Sprintf("ReceiptBatchMax must be between 1 and %d", MaxReceiptBatch))
	}
	if cfg.Headroom >= 1 {
		problems = append(problems, "Headroom must be less than 1")
	}
	sk, err := newSink(cfg.SinkURL, cfg.SinkSecret, cfg.SinkAllowHTTP, cfg.HTTPClient)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("tasks config: %s", strings.Join(problems, "; "))
	}
	cfg = withDefaults(cfg)
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("tasks metrics: %w", err)
	}
	if err := m.budget(cfg.Registerer, cfg.RateLimit); err != nil {
		return nil, fmt.Errorf("tasks metrics: %w", err)
	}
	lim := newLimiter(cfg.Redis, gcraLimit(cfg.RateLimit, cfg.Headroom), cfg.MaxWait, m.limiterWait)
	return &Worker{
		// Every HTTP attempt passes the limiter, the retry after a
		// regenerated UserSig included.
		chat:           cfg.Chat.WithBeforeCall(lim.beforeCall),
		rdb:            cfg.Redis,
		lim:            lim,
		enq:            cfg.Enqueuer,
		tasks:          cfg.Tasks,
		store:          NewStore(cfg.Redis, cfg.SnapshotTTL),
		receiptMax:     cfg.ReceiptBatchMax,
		interval:       cfg.ConversationInterval,
		debounce:       cfg.Debounce,
		maxDelay:       cfg.MaxDelay,
		backoff:        cfg.Backoff.withDefaults(),
		sink:           sk,
		chatRetryAfter: cfg.ChatRetryAfter,
		log:            cfg.Logger,
		metrics:        m,
		now:            cfg.Now,
		tracer:         newTracer(cfg.TracerProvider),
	}, nil
}

func withDefaults(cfg Config) Config {
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	switch {
	case cfg.Headroom == 0:
		cfg.Headroom = DefaultHeadroom
	case cfg.Headroom < 0:
		cfg.Headroom = 0
	}
	switch {
	case cfg.MaxWait == 0:
		cfg.MaxWait = DefaultMaxWait
	case cfg.MaxWait < 0:
		cfg.MaxWait = 0
	}
	if cfg.ChatRetryAfter <= 0 {
		cfg.ChatRetryAfter = DefaultChatRetryAfter
	}
	switch {
	case cfg.ConversationInterval == 0:
		cfg.ConversationInterval = DefaultConversationInterval
	case cfg.ConversationInterval < 0:
		cfg.ConversationInterval = 0
	}
	if cfg.ReceiptBatchMax == 0 {
		cfg.ReceiptBatchMax = DefaultReceiptBatchMax
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	cfg.MaxDelay = max(cfg.MaxDelay, cfg.Debounce)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// Register adds the handlers of every chatsync task type to mux and, with
// a TracerProvider, the middleware that traces each task run.
func (w *Worker) Register(mux *asynq.ServeMux) {
	if w.tracer != nil {
		mux.Use(w.traceTask)
	}
	mux.Handle(TypeSetRead, w.handler(TypeSetRead, w.handleSetRead))
	mux.Handle(TypeReadReceipt, w.handler(TypeReadReceipt, w.handleReadReceipt))
	mux.Handle(TypeUnread, w.handler(TypeUnread, w.handleUnread))
	mux.Handle(TypeRefresh, w.handler(TypeRefresh, w.handleRefresh))
	mux.Handle(TypeSinkNotify, w.handler(TypeSinkNotify, w.handleSinkNotify))
}

// ServerConfig returns base with what it leaves unset filled in for the
// worker: Queues (DefaultQueues), RetryDelayFunc (Worker.RetryDelay),
// IsFailure (Worker.IsFailure), ErrorHandler (logs failed runs without
// secrets), a Logger writing to the worker's slog.Logger, and short
// DelayedTaskCheckInterval and TaskCheckInterval. A caller that sets
// RetryDelayFunc or IsFailure takes over what Chat's rate limits need
// from them: postponing without spending a retry.
func (w *Worker) ServerConfig(base asynq.Config) asynq.Config {
	if len(base.Queues) == 0 {
		base.Queues = DefaultQueues()
	}
	if base.RetryDelayFunc == nil {
		base.RetryDelayFunc = w.RetryDelay
	}
	if base.IsFailure == nil {
		base.IsFailure = w.IsFailure
	}
	if base.ErrorHandler == nil {
		base.ErrorHandler = asynq.ErrorHandlerFunc(w.handleError)
	}
	if base.Logger == nil {
		base.Logger = asynqLogger{w.log.With("component", "asynq")}
	}
	if base.DelayedTaskCheckInterval == 0 {
		base.DelayedTaskCheckInterval = DefaultDelayedTaskCheckInterval
	}
	if base.TaskCheckInterval == 0 {
		base.TaskCheckInterval = DefaultTaskCheckInterval
	}
	return base
}

// handler wraps h to count its outcomes, and archived runs by error code.
func (w *Worker) handler(typ string, h asynq.HandlerFunc) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := h(ctx, t)
		o := outcome(ctx, err)
		w.metrics.outcome(typ, o)
		if o == OutcomeArchived {
			w.metrics.archive(typ, err)
		}
		return err
	})
}

func outcome(ctx context.Context, err error) string {
	var rl *RateLimitError
	switch {
	case err == nil:
		return OutcomeOK
	case errors.As(err, &rl):
		return OutcomeRateLimited
	case errors.Is(err, asynq.SkipRetry):
		return OutcomeArchived
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if retried >= maxRetry {
		return OutcomeArchived
	}
	return OutcomeRetried
}

// handleError logs a failed task run: its ID, type, retry count and error,
// with the Chat API and ErrorCode when Chat answered. It never logs
// payloads.
func (w *Worker) handleError(ctx context.Context, t *asynq.Task, err error) {
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	attrs := []any{"task_id", id, "task_type", t.Type(), "retry", retried}
	var ce *chatapi.Error
	if errors.As(err, &ce) {
		attrs = append(attrs, "api", ce.API, "code", ce.Code)
	}
	var rl *RateLimitError
	if errors.As(err, &rl) && ce == nil {
		attrs = append(attrs, "api", rl.API)
	}
	attrs = append(attrs, "err", err)
	switch o := outcome(ctx, err); o {
	case OutcomeRateLimited:
		w.log.Debug("task rate limited", attrs...)
	case OutcomeArchived:
		w.log.Error("task failed, archived", attrs...)
	default:
		w.log.Warn("task failed, will retry", attrs...)
	}
}

// decode reads and validates a task's JSON payload. A payload that cannot
// be read or is invalid will never succeed: the error makes asynq archive
// the task.
func decode[P interface{ Validate() error }](t *asynq.Task) (P, error) {
	var p P
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, permanent(fmt.Errorf("%s: decode payload: %w", t.Type(), err))
	}
	if err := p.Validate(); err != nil {
		return p, permanent(fmt.Errorf("%s: invalid payload: %w", t.Type(), err))
	}
	return p, nil
}

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }

// Fatal logs at error level. asynq v0.26 never calls it; unlike asynq's own
// logger it does not exit the process: main decides that.
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
