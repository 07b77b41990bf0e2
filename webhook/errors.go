package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// FieldError names one problem with one field of one app event, in the
// details of a 400 answer to POST /v1/events.
type FieldError struct {
	Index   int    `json:"index"`   // the event's position in the batch (0 for a single event)
	Field   string `json:"field"`   // e.g. "account", "msg_keys[2]"
	Message string `json:"message"` // e.g. "is empty"
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

func (s *Server) logError(c echo.Context, err error, status int) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
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
