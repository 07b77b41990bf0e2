// Package webhook is chatsync's HTTP ingest, built on Echo v4: the Tencent
// Cloud Chat callback target (POST /callback), signed app events
// (POST /v1/events), the unread read API (GET /v1/users/:id/unread) and the
// health checks (GET /healthz, GET /readyz).
//
// Every accepted callback or app event is handed to the intake
// (tasks.Intake), which merges it into its conversation's pending work and
// enqueues the tasks, and is acknowledged only once all of that is in
// Redis. A redelivered callback or event within its replay window adds
// nothing, and an acknowledgement is never given for work that Redis did
// not take: when the intake fails the answer is 503.
package webhook

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// Acceptor takes an accepted callback or event into Redis: de-duplication,
// its conversations' pending state, its tasks. *tasks.Intake satisfies it.
type Acceptor interface {
	Accept(ctx context.Context, x tasks.Input) (tasks.Accepted, error)
}

// SnapshotReader reads the last unread snapshot of a user. It returns an
// error wrapping tasks.ErrNoSnapshot for a user chatsync has never seen.
type SnapshotReader interface {
	Snapshot(ctx context.Context, account string) (*tasks.Snapshot, error)
}

// Defaults for Config's zero values, and fixed limits.
const (
	DefaultMaxBody        = 256 << 10               // bytes
	DefaultEnqueueTimeout = 1500 * time.Millisecond // Chat gives a callback 2 s
	DefaultReadyTimeout   = 2 * time.Second

	// CallbackWindow is how far a callback's RequestTime may be from now.
	CallbackWindow = chatapi.CallbackWindow
	// EventTolerance is how far an app event's webhook-timestamp may be
	// from now (Standard Webhooks' recommendation).
	EventTolerance = 5 * time.Minute
	// MaxEvents is the most events one POST /v1/events may carry.
	MaxEvents = 100
	// MaxJSONDepth is the deepest JSON nesting accepted in a body.
	MaxJSONDepth = 32
)

// Config configures a Server. SDKAppID and Intake are required; zero
// values of the other fields mean defaults or "feature off".
type Config struct {
	// SDKAppID is the Chat application; a callback's SdkAppid must match it.
	SDKAppID uint64
	// CallbackToken is the callback authentication token set in the Chat
	// console. Callbacks must then carry Sign = hex(SHA-256(token +
	// RequestTime)) with RequestTime within CallbackWindow of now.
	CallbackToken string
	// AllowInsecureCallbacks lets New accept an empty CallbackToken, in
	// which case callbacks are not authenticated and New logs a warning.
	AllowInsecureCallbacks bool

	// EventSecrets are the Standard Webhooks secrets (whsec_ and the
	// base64 of 16 to 64 bytes: tasks.ParseWebhookSecret) accepted on
	// POST /v1/events; several allow key rotation. Empty disables the
	// route: it answers 404.
	EventSecrets []string
	// APIKey is the bearer token of GET /v1/users/:id/unread. Empty
	// disables the route: it answers 404.
	APIKey string
	// Snapshots serves GET /v1/users/:id/unread; required with APIKey.
	Snapshots SnapshotReader

	// AutoRead lists accounts (bots, service desks) whose incoming messages
	// are marked read and receipted as soon as they are delivered.
	AutoRead []string

	// Intake takes the work of accepted callbacks and events into Redis.
	Intake Acceptor
	// EnqueueTimeout bounds the intake of one request's work
	// (default 1.5 s, below Chat's 2 s callback timeout).
	EnqueueTimeout time.Duration

	// Ready reports whether the server can take work (e.g. a Redis PING);
	// GET /readyz answers 503 while it fails. Nil means always ready.
	Ready func(ctx context.Context) error

	// MaxBody is the largest request body accepted (default 256 KiB);
	// larger ones get 413.
	MaxBody int64

	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now

	// Registerer receives the server's Prometheus metrics: HTTP requests by
	// route, method and status (with a latency histogram), callbacks by
	// command and result, and app events by type and result. Nil means no
	// metrics.
	Registerer prometheus.Registerer

	// TracerProvider, when set, makes a span of every callback and event
	// request (see trace.go). Nil means no tracing, at no cost.
	TracerProvider trace.TracerProvider
}

// Server is chatsync's HTTP ingest. It is safe for concurrent use.
type Server struct {
	e   *echo.Echo
	log *slog.Logger
	now func() time.Time
	m   *metrics

	intake         Acceptor
	appID          string // SDKAppID in decimal
	token          string
	events         *eventVerifier // nil: route off
	apiKeyHash     [sha256.Size]byte
	snapshots      SnapshotReader
	autoRead       map[string]struct{}
	ready          func(ctx context.Context) error
	enqueueTimeout time.Duration
	maxBody        int64
	ack            []byte    // Chat's OK reply, precomputed
	bufs           sync.Pool // of *body
	ids            *requestIDs
	rejected       rejectedLog
	tracer         trace.Tracer // nil: no tracing
}

// New returns a Server for cfg, or an error naming every invalid field.
// Without a CallbackToken it fails unless AllowInsecureCallbacks is set,
// and then logs a warning. It fails when the metrics cannot be registered.
func New(cfg Config) (*Server, error) {
	ev, err := newEventVerifier(cfg.EventSecrets)
	problems := cfg.problems()
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("webhook config: %s", strings.Join(problems, "; "))
	}

	s := &Server{
		log:            cfg.Logger,
		now:            cfg.Now,
		intake:         cfg.Intake,
		appID:          strconv.FormatUint(cfg.SDKAppID, 10),
		token:          cfg.CallbackToken,
		events:         ev,
		snapshots:      cfg.Snapshots,
		autoRead:       make(map[string]struct{}, len(cfg.AutoRead)),
		ready:          cfg.Ready,
		enqueueTimeout: cfg.EnqueueTimeout,
		maxBody:        cfg.MaxBody,
		ack:            []byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`),
		bufs:           sync.Pool{New: func() any { return new(body) }},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.enqueueTimeout == 0 {
		s.enqueueTimeout = DefaultEnqueueTimeout
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBody
	}
	if cfg.APIKey != "" {
		s.apiKeyHash = sha256.Sum256([]byte(cfg.APIKey))
	}
	for _, a := range cfg.AutoRead {
		s.autoRead[a] = struct{}{}
	}
	if s.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	if s.ids, err = newRequestIDs(); err != nil {
		return nil, err
	}
	if cfg.TracerProvider != nil {
		s.tracer = cfg.TracerProvider.Tracer("github.com/chatsync/chatsync/webhook")
	}
	s.e = s.newEcho(cfg.APIKey != "")
	if s.token == "" {
		s.log.Warn("chat callbacks are not authenticated: CallbackToken is empty and AllowInsecureCallbacks is set")
	}
	return s, nil
}

// problems lists what is wrong with c, apart from the event secrets.
func (c Config) problems() []string {
	var p []string
	if c.SDKAppID == 0 {
		p = append(p, "SDKAppID is required")
	}
	if c.CallbackToken == "" && !c.AllowInsecureCallbacks {
		p = append(p, "CallbackToken is empty (set AllowInsecureCallbacks to accept unauthenticated callbacks)")
	}
	if c.Intake == nil {
		p = append(p, "Intake is required")
	}
	if c.APIKey != "" && c.Snapshots == nil {
		p = append(p, "Snapshots is required with APIKey")
	}
	if c.MaxBody < 0 {
		p = append(p, "MaxBody is negative")
	}
	if c.EnqueueTimeout < 0 {
		p = append(p, "EnqueueTimeout is negative")
	}
	return p
}

// Echo returns the server's Echo instance, so that a caller can mount more
// routes (e.g. /metrics, /monitoring) under the same middleware.
func (s *Server) Echo() *echo.Echo { return s.e }

// ServeHTTP serves a request; Server is an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

func (s *Server) newEcho(unreadAPI bool) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(
		dropBadRequestID,
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{
			TargetHeader: echo.HeaderXRequestID,
			Generator:    s.ids.next,
		}),
	)
	if s.tracer != nil {
		e.Use(s.traceRequests)
	}
	if s.m != nil {
		e.Use(s.m.middleware)
	}
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableErrorHandler: true, // the error goes up to the metrics and then the error handler
		LogErrorFunc: func(_ echo.Context, err error, stack []byte) error {
			return &panicError{err: err, stack: stack}
		},
	}))

	e.POST(routeCallback, s.callback)
	if s.events != nil {
		e.POST(routeEvents, s.postEvents)
	}
	if unreadAPI {
		e.GET(routeUnread, s.unread)
	}
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	return e
}

// Routes, also used as metric labels.
const (
	routeCallback = "/callback"
	routeEvents   = "/v1/events"
	routeUnread   = "/v1/users/:id/unread"
)

func (s *Server) healthz(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ok"}`))
}

func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), DefaultReadyTimeout)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			return &httpError{status: http.StatusServiceUnavailable, msg: "not ready", err: err}
		}
	}
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ready"}`))
}
