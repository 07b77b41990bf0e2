package webhook

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/chatsync/chatsync/tasks"
)

// Tracing. With Config.TracerProvider set, every request to /callback and
// /v1/events is a server span named after its route ("POST /callback"),
// the child of the request's W3C traceparent when it has one; each event
// of a batch of several is a span of its own under it ("event"). The
// intake (tasks.Intake) carries the span of the callback or event on to
// its tasks, and the Chat calls that apply it link to it. The span records the
// method, the route, the status, the request ID and a callback's
// CallbackCommand; never the query (it holds the Sign), headers, the body
// or a user ID. Without a TracerProvider the middleware is not installed.

// Span attribute keys of a request.
const (
	attrMethod    = attribute.Key("http.request.method")
	attrRoute     = attribute.Key("http.route")
	attrStatus    = attribute.Key("http.response.status_code")
	attrRequestID = attribute.Key("chatsync.request_id")
	attrCommand   = attribute.Key("chatsync.callback_command")
)

// spanNames are the names of the request spans of the traced routes.
var spanNames = map[string]string{routeCallback: "POST " + routeCallback, routeEvents: "POST " + routeEvents}

// serverSpan is the start option of a request span, made once: made per
// request, it is an allocation (BenchmarkCallbackTraced: −1 alloc/op).
var serverSpan = trace.WithSpanKind(trace.SpanKindServer)

// traceparentKey is the W3C header in its canonical form: looking it up in
// r.Header directly saves the propagator's Header.Get, which canonicalizes
// "traceparent" into a new string on every request (−1 alloc/op).
const traceparentKey = "Traceparent"

// traceRequests is the tracing middleware; it runs after routing, so
// c.Path() is the matched route.
func (s *Server) traceRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		route := c.Path()
		if route != routeCallback && route != routeEvents {
			return next(c)
		}
		r := c.Request()
		ctx := r.Context()
		if _, ok := r.Header[traceparentKey]; ok {
			ctx = propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		name := spanNames[route]
		if r.Method != http.MethodPost {
			name = r.Method + " " + route
		}
		ctx, span := s.tracer.Start(ctx, name, serverSpan)
		defer span.End()
		// Attributes only for a sampled span: an unsampled one then costs
		// no allocation here (and no parse of the query).
		recording := span.IsRecording()
		if recording {
			span.SetAttributes(requestAttributes(r, route, c.Response().Header().Get(echo.HeaderXRequestID))...)
		}
		c.SetRequest(r.WithContext(ctx))
		if err := next(c); err != nil {
			c.Error(err) // as the metrics middleware: the status is known after this
		}
		if !recording {
			return nil
		}
		status := c.Response().Status
		span.SetAttributes(attrStatus.Int(status))
		if status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		return nil
	}
}

// requestAttributes returns the attributes of a sampled request span but
// its status, set in one call: the span's attribute slice then grows once.
func requestAttributes(r *http.Request, route, requestID string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attrMethod.String(r.Method), attrRoute.String(route),
		attrRequestID.String(requestID), {}}
	if route != routeCallback {
		return attrs[:3]
	}
	q, _ := parseCallbackQuery(r.URL.RawQuery)
	if !printableASCII(q.Command, 64) {
		q.Command = "invalid"
	}
	attrs[3] = attrCommand.String(q.Command)
	return attrs
}

// accept takes x in. With tracing an event of a batch gets a span of its
// own, so that a call applying several of the batch's events links to
// each; a callback's or a lone event's span is its request's.
func (s *Server) accept(ctx context.Context, x tasks.Input, batch bool) (tasks.Accepted, error) {
	if s.tracer == nil || !batch {
		return s.intake.Accept(ctx, x)
	}
	ctx, span := s.tracer.Start(ctx, "event")
	defer span.End()
	a, err := s.intake.Accept(ctx, x)
	if err != nil {
		span.SetStatus(codes.Error, "not accepted")
	}
	return a, err
}
