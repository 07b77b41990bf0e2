package chatapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing. With Config.TracerProvider set, every call (Do, and so every
// typed method) is one client span named "chat <api>" (e.g. "chat
// openim/admin_set_msg_read"), a child of the span in the call's context.
// Its attributes are the API, Chat's ErrorCode, the HTTP status, the class
// of a failure and the caller's attempt; never the URL (its query holds the
// UserSig), the request or the answer, which carry user IDs and message
// data.

// Span attribute keys of a Chat call.
const (
	AttrAPI        = attribute.Key("chat.api")                  // "openim/admin_set_msg_read"
	AttrErrorCode  = attribute.Key("chat.error_code")           // Chat's ErrorCode; absent when Chat gave none
	AttrHTTPStatus = attribute.Key("http.response.status_code") // absent when no response arrived
	AttrClass      = attribute.Key("chat.class")                // a failure's Class: transient, rate_limited, permanent, sig_expired
	AttrAttempt    = attribute.Key("chat.attempt")              // CallTrace.Attempt
	AttrSigRenewed = attribute.Key("chat.usersig_renewed")      // true when an expired UserSig was replaced and the call made again
)

// CallTrace is what a caller adds to the spans of the Chat calls made with
// a context (see WithCallTrace).
type CallTrace struct {
	// Attempt is how many times the caller tried the work this call
	// carries before (e.g. asynq's retry count: 0 on the first run).
	Attempt int
	// Links are the spans of the events whose work the call carries: a
	// call that applies many events links to each.
	Links []trace.Link
}

type callTraceKey struct{}

// WithCallTrace returns a context whose Chat calls' spans carry ct. It
// costs nothing when the Client has no TracerProvider; callers may skip it
// then.
func WithCallTrace(ctx context.Context, ct CallTrace) context.Context {
	return context.WithValue(ctx, callTraceKey{}, ct)
}

// startSpan starts the span of a call of api, a child of ctx's span. end
// ends it with the call's outcome. A call outside a recorded span (an
// input that was not sampled) gets no span: traces begin at the inputs.
func (c *Client) startSpan(ctx context.Context, api string) (context.Context, func(error)) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, func(error) {}
	}
	ct, _ := ctx.Value(callTraceKey{}).(CallTrace)
	ctx, span := c.tracer.Start(ctx, "chat "+api, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(ct.Links...),
		trace.WithAttributes(AttrAPI.String(api), AttrAttempt.Int(ct.Attempt)))
	return ctx, func(err error) {
		if err != nil {
			cls := ClassOf(err)
			span.SetAttributes(AttrClass.String(cls.String()))
			span.SetStatus(codes.Error, spanStatus(api, err))
		}
		span.End()
	}
}

// noteAttempt records on ctx's span what one HTTP attempt got back; the
// attempt after a renewed UserSig overwrites the first's.
func noteAttempt(ctx context.Context, code, status int) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 2)
	if code >= 0 {
		attrs = append(attrs, AttrErrorCode.Int(code))
	}
	if status != 0 {
		attrs = append(attrs, AttrHTTPStatus.Int(status))
	}
	span.SetAttributes(attrs...)
}

// spanStatus describes a failed call for its span without Chat's
// ErrorInfo or a transport error's text, which may quote user IDs.
func spanStatus(api string, err error) string {
	var b strings.Builder
	b.WriteString("chat ")
	b.WriteString(api)
	var ce *Error
	switch {
	case !errors.As(err, &ce):
		b.WriteString(": failed")
	case ce.Code != 0:
		b.WriteString(": ErrorCode ")
		b.WriteString(strconv.Itoa(ce.Code))
	case ce.HTTPStatus != 0 && ce.HTTPStatus != http.StatusOK:
		b.WriteString(": HTTP ")
		b.WriteString(strconv.Itoa(ce.HTTPStatus))
	case errors.Is(ce.Err, ErrInvalidRequest):
		b.WriteString(": invalid request")
	case ce.Err != nil:
		b.WriteString(": ")
		b.WriteString(ce.Info) // chatsync's own words: "send request", "decode response"
	default:
		b.WriteString(": no ErrorCode") // Info may quote Chat's ErrorInfo
	}
	return b.String()
}
