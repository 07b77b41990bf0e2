package tasks

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatsync/chatsync/chatapi"
)

// Task outcomes, the values of chatsync_task_outcomes_total's outcome label.
const (
	OutcomeOK          = "ok"           // the task is done
	OutcomeRetried     = "retried"      // failed; asynq runs it again after a backoff
	OutcomeArchived    = "archived"     // failed for good; archived for an operator
	OutcomeRateLimited = "rate_limited" // postponed by a rate limit; not a failure
)

// metrics are the worker's Prometheus collectors. A nil *metrics records
// nothing.
type metrics struct {
	outcomes *prometheus.CounterVec
	archived *prometheus.CounterVec
	wait     *prometheus.HistogramVec
	age      *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsync_task_outcomes_total",
			Help: "Task runs by type and outcome (ok, retried, archived, rate_limited).",
		}, []string{"type", "outcome"}),
		archived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatsync_tasks_archived_total",
			Help: "Task runs that ended archived, by type and the failure's code: Chat's ErrorCode, " +
				"http_<status>, network, invalid_request (refused before a call) or none (not a Chat call).",
		}, []string{"type", "code"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatsync_limiter_wait_seconds",
			Help:    "Time a Chat call waited in the handler for the cluster-wide rate limit, by API.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
		}, []string{"api"}),
		age: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chatsync_unread_snapshot_age_seconds",
			Help: "Staleness of unread data when it is written to a snapshot: for a callback's total, " +
				"the time since the callback's event; for an API measurement, the time since the first " +
				"request the refresh answers. By source (callback, api).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"source"}),
	}
	var err error
	if m.outcomes, err = register(reg, m.outcomes); err != nil {
		return nil, err
	}
	if m.archived, err = register(reg, m.archived); err != nil {
		return nil, err
	}
	if m.wait, err = register(reg, m.wait); err != nil {
		return nil, err
	}
	if m.age, err = register(reg, m.age); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) outcome(typ, outcome string) {
	if m != nil {
		m.outcomes.WithLabelValues(typ, outcome).Inc()
	}
}

// archive counts a task run that ended archived, by the code of err.
func (m *metrics) archive(typ string, err error) {
	if m != nil {
		m.archived.WithLabelValues(typ, archivedCode(err)).Inc()
	}
}

// archivedCode is the code label of an archived task's error.
func archivedCode(err error) string {
	var ce *chatapi.Error
	switch {
	case !errors.As(err, &ce):
		return "none"
	case ce.Code != 0:
		return strconv.Itoa(ce.Code)
	case ce.HTTPStatus != 0 && ce.HTTPStatus != 200:
		return "http_" + strconv.Itoa(ce.HTTPStatus)
	case errors.Is(ce, chatapi.ErrInvalidRequest):
		return "invalid_request"
	default:
		return "network"
	}
}

func (m *metrics) limiterWait(api string, d time.Duration) {
	if m != nil {
		m.wait.WithLabelValues(api).Observe(d.Seconds())
	}
}

func (m *metrics) snapshotAge(source string, d time.Duration) {
	if m != nil {
		m.age.WithLabelValues(source).Observe(max(d, 0).Seconds())
	}
}

// NewChatMetrics registers chatsync_chat_api_calls_total{api, code} and
// chatsync_chat_api_duration_seconds{api} with reg and returns the function
// that records one chatapi.Call in them, for chatapi.Config.Observe (the
// Chat client is built before the Worker). The code label is Chat's
// ErrorCode ("0" for success), "http_<status>" for a non-200 answer,
// "network" when no answer arrived and "undecodable" for an unreadable one.
// Registering twice with one registry reuses the collectors. The returned
// function is safe for concurrent use.
func NewChatMetrics(reg prometheus.Registerer) (func(chatapi.Call), error) {
	calls, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatsync_chat_api_calls_total",
		Help: "Chat REST calls (HTTP attempts) by API and ErrorCode.",
	}, []string{"api", "code"}))
	if err != nil {
		return nil, err
	}
	dur, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chatsync_chat_api_duration_seconds",
		Help:    "Duration of Chat REST calls (HTTP attempts) by API.",
		Buckets: prometheus.DefBuckets,
	}, []string{"api"}))
	if err != nil {
		return nil, err
	}
	return func(c chatapi.Call) {
		calls.WithLabelValues(c.API, codeLabel(c)).Inc()
		dur.WithLabelValues(c.API).Observe(c.Duration.Seconds())
	}, nil
}

func codeLabel(c chatapi.Call) string {
	switch {
	case c.Code >= 0:
		return strconv.Itoa(c.Code)
	case c.HTTPStatus == 0:
		return "network"
	case c.HTTPStatus != 200:
		return "http_" + strconv.Itoa(c.HTTPStatus)
	default:
		return "undecodable"
	}
}

// register registers c, or returns the collector registered before in its
// place.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// Results of an accepted event for its conversation's call, the values of
// chatsync_coalesce_events_total's result label.
const (
	CoalesceQueued  = "queued"  // the event queued its conversation's next call
	CoalesceJoined  = "joined"  // it joined a call that was already waiting
	CoalesceApplied = "applied" // its read point was already applied: no call
)

// IntakeMetrics counts what the intake does with events that cost Chat
// calls. A nil *IntakeMetrics records nothing. It is safe for concurrent
// use.
type IntakeMetrics struct {
	events *prometheus.CounterVec
}

// NewIntakeMetrics registers chatsync_coalesce_events_total{api, result}
// with reg. Registering twice with one registry reuses the collector.
func NewIntakeMetrics(reg prometheus.Registerer) (*IntakeMetrics, error) {
	events, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatsync_coalesce_events_total",
		Help: "Accepted events by the Chat API that applies them and by result: queued (the event queued its " +
			"conversation's next call), joined (it joined a call already waiting) or applied (its read point " +
			"was already applied). Calls per event: rate(chatsync_chat_api_calls_total) / rate(this).",
	}, []string{"api", "result"}))
	if err != nil {
		return nil, err
	}
	return &IntakeMetrics{events: events}, nil
}

func (m *IntakeMetrics) accepted(api string, joined, applied bool) {
	if m == nil {
		return
	}
	result := CoalesceQueued
	switch {
	case applied:
		result = CoalesceApplied
	case joined:
		result = CoalesceJoined
	}
	m.events.WithLabelValues(api, result).Inc()
}

// budget publishes the configured per-API call limit, so that budget use is
// rate(chatsync_chat_api_calls_total) / chatsync_chat_api_limit.
func (m *metrics) budget(reg prometheus.Registerer, perSecond int) error {
	if m == nil {
		return nil
	}
	g, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chatsync_chat_api_limit",
		Help: "Calls per second Chat allows for each API across the fleet (CHAT_RATE_LIMIT); " +
			"chatsync's limiter grants this less its headroom.",
	}, []string{"api"}))
	if err != nil {
		return err
	}
	for _, api := range []string{chatapi.APISetMsgRead, chatapi.APIReadReceipt, chatapi.APIUnread} {
		g.WithLabelValues(api).Set(float64(perSecond))
	}
	return nil
}
