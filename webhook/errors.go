package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/chatsync/chatsync/chatapi"
)

// FieldError names one problem with one field of one app event, in the
// details of a 400 answer to POST /v1/events.
type FieldError struct {
	Index   int    `json:"index"`   // the event's position in the batch (0 for a single event)
	Field   string `json:"field"`   // e.g. "account", "msg_keys[2]"
	Message string `json:"message"` // e.g. "is empty"
}

// fieldErrors collects the problems of one app event; its methods add one
// when a check fails.
type fieldErrors []FieldError

func (p *fieldErrors) add(field, msg string) {
	*p = append(*p, FieldError{Field: field, Message: msg})
}

func (p fieldErrors) has(field string) bool {
	return slices.ContainsFunc(p, func(fe FieldError) bool { return fe.Field == field })
}

func (p *fieldErrors) userID(field, id string) {
	if err := chatapi.CheckUserID(id); err != nil {
		p.add(field, err.Error())
	}
}

// count notes a list that is empty or longer than max.
func (p *fieldErrors) count(field string, n, max int) {
	switch {
	case n == 0:
		p.add(field, "is empty")
	case n > max:
		p.add(field, fmt.Sprintf("has %d entries, more than %d", n, max))
	}
}

// shortKey is a key as a FieldError names it: bounded in length, and
// `""` for the empty key.
func shortKey(k string) string {
	switch {
	case k == "":
		return `""`
	case len(k) > 64:
		return strings.ToValidUTF8(k[:64], "") + "…"
	}
	return k
}

// httpError is what handlers return: the status and the public message
// (ErrorInfo on /callback, "error" elsewhere) for the client, the cause
// for the log only.
type httpError struct {
	status  int
	msg     string
	details []FieldError
	err     error
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *httpError) Unwrap() error { return e.err }

// panicError is a panic recovered in a handler, with its stack.
type panicError struct {
	err   error
	stack []byte
}

func (e *panicError) Error() string { return "panic: " + e.err.Error() }
func (e *panicError) Unwrap() error { return e.err }

// errorBody is the JSON error answer of the non-Chat routes.
type errorBody struct {
	Error   string       `json:"error"`
	Details []FieldError `json:"details,omitempty"`
}

// chatFail is Chat's failure reply. ErrorCode 1 with a non-200 status:
// Chat counts it as a failed callback, never as a 200 "forbid" decision
// on a before-send callback.
type chatFail struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

// handleError is Echo's central error handler: it answers the error in the
// route's format and logs it once. It never logs bodies or signatures.
func (s *Server) handleError(err error, c echo.Context) {
	status, msg, details := classify(err)
	s.logError(c, err, status)
	if c.Response().Committed {
		return
	}
	if c.Path() == routeCallback {
		err = c.JSON(status, chatFail{ActionStatus: "FAIL", ErrorInfo: msg, ErrorCode: 1})
	} else if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, errorBody{Error: msg, Details: details})
	}
	if err != nil {
		s.log.Debug("write error answer", "request_id", requestID(c), "err", err)
	}
}

// classify maps an error to its status and public message.
func classify(err error) (status int, msg string, details []FieldError) {
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg, he.details
	case errors.As(err, &ee):
		msg := strings.ToLower(http.StatusText(ee.Code))
		if m, ok := ee.Message.(string); ok && ee.Code < 500 {
			msg = strings.ToLower(m)
		}
		return ee.Code, msg, nil
	default:
		return http.StatusInternalServerError, "internal error", nil
	}
}

// logError logs a failed request: a server error at ERROR, a rejected
// request (4xx: the client's doing, counted in chatsync_http_requests_total
// whatever the log level) only at DEBUG, so that strangers cannot fill the
// logs; s.rejected adds at most one WARN summary a minute.
func (s *Server) logError(c echo.Context, err error, status int) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	} else {
		s.rejected.note(s.log, s.now(), status)
	}
	ctx := c.Request().Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestID(c)),
		slog.String("method", c.Request().Method),
		slog.String("route", routeLabel(c)),
		slog.Int("status", status),
		slog.String("err", err.Error()),
	}
	var pe *panicError
	if errors.As(err, &pe) {
		attrs = append(attrs, slog.String("stack", string(pe.stack)))
	}
	s.log.LogAttrs(ctx, level, "request failed", attrs...)
}

// rejectedSummaryEvery is the least time between two WARN summaries of
// rejected requests.
const rejectedSummaryEvery = time.Minute

// rejectedLog counts rejected requests between WARN summaries. The first
// rejection after a quiet minute is summarised at once; the ones after it
// wait for the next summary. It is safe for concurrent use.
type rejectedLog struct {
	mu       sync.Mutex
	last     time.Time // of the last summary
	byStatus map[int]int
}

func (r *rejectedLog) note(log *slog.Logger, now time.Time, status int) {
	r.mu.Lock()
	if r.byStatus == nil {
		r.byStatus = map[int]int{}
	}
	r.byStatus[status]++
	if now.Sub(r.last) < rejectedSummaryEvery {
		r.mu.Unlock()
		return
	}
	counts, total := make([]any, 0, 2*len(r.byStatus)), 0
	for st, n := range r.byStatus {
		counts = append(counts, strconv.Itoa(st), n)
		total += n
	}
	clear(r.byStatus)
	since := r.last
	r.last = now
	r.mu.Unlock()
	attrs := []any{"count", total, slog.Group("by_status", counts...)}
	if !since.IsZero() {
		attrs = append(attrs, "since", since.UTC().Format(time.RFC3339))
	}
	log.Warn("rejected requests (details at LOG_LEVEL=debug; counts in chatsync_http_requests_total)", attrs...)
}

func requestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

// badRequest, statusError and unavailable build the handlers' errors.
func badRequest(msg string, err error) error {
	return &httpError{status: http.StatusBadRequest, msg: msg, err: err}
}

func statusError(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func unavailable(err error) error {
	return &httpError{status: http.StatusServiceUnavailable, msg: "temporarily unavailable, retry", err: err}
}

// writeJSON answers status with v encoded as JSON.
func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	return c.JSONBlob(status, b)
}
