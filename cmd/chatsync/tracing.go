package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is configured only by the OpenTelemetry SDK's standard
// variables. parseTracing decides whether it is on and checks the values
// the SDK would otherwise ignore or reject at run time; the SDK then reads
// the variables itself (exporter endpoint, headers, timeout, compression;
// resource; sampler; batch processor).
const tracingHelp = `  OTEL_EXPORTER_OTLP_ENDPOINT         turns tracing on: OTLP/HTTP base URL of the collector,
                                      e.g. http://otel-collector:4318 (traces go to /v1/traces)
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  or the full URL of the traces endpoint
  OTEL_TRACES_EXPORTER                otlp (on; http://localhost:4318 without an endpoint) or
                                      none (off); unset: on only with an endpoint
  OTEL_EXPORTER_OTLP_PROTOCOL         http/protobuf only (grpc and http/json are refused)
  OTEL_EXPORTER_OTLP_HEADERS          e.g. authorization=Bearer%20…; also _TIMEOUT, _COMPRESSION,
                                      _CERTIFICATE and the _TRACES_ forms, read by the SDK
  OTEL_SERVICE_NAME                   service.name (default chatsync); OTEL_RESOURCE_ATTRIBUTES
  OTEL_TRACES_SAMPLER                 always_on, always_off, traceidratio, parentbased_always_on
                                      (default), parentbased_always_off, parentbased_traceidratio;
                                      OTEL_TRACES_SAMPLER_ARG the ratio (0 to 1)
  OTEL_SDK_DISABLED                   true turns tracing off
`

// tracingConfig says whether tracing is on. The rest of its configuration
// stays in the environment, where the SDK reads it.
type tracingConfig struct {
	On bool
}

// parseTracing reads the OTEL_* variables: tracing is on with an OTLP
// endpoint or OTEL_TRACES_EXPORTER=otlp, off when neither is set, with
// OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true. Values chatsync
// does not support are problems, so that a typo does not silently leave
// tracing off.
func parseTracing(e *env) tracingConfig {
	disabled := e.boolean("OTEL_SDK_DISABLED", false)
	exporter := strings.ToLower(e.str("OTEL_TRACES_EXPORTER", ""))
	endpoint := e.httpURL("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
	endpoint = e.httpURL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || endpoint
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if p := e.str(name, ""); p != "" && p != "http/protobuf" {
			e.problem(name, "%q is not supported: chatsync exports OTLP over HTTP (http/protobuf, port 4318)", p)
		}
	}
	arg := e.str("OTEL_TRACES_SAMPLER_ARG", "") // the SDK ignores it but for a ratio sampler
	switch s := strings.ToLower(e.str("OTEL_TRACES_SAMPLER", "")); s {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
	case "traceidratio", "parentbased_traceidratio":
		if arg != "" {
			if r, err := strconv.ParseFloat(arg, 64); err != nil || r < 0 || r > 1 {
				e.problem("OTEL_TRACES_SAMPLER_ARG", "%q is not a ratio from 0 to 1", arg)
			}
		}
	default:
		e.problem("OTEL_TRACES_SAMPLER", "%q is not one of always_on, always_off, traceidratio, "+
			"parentbased_always_on, parentbased_always_off, parentbased_traceidratio", s)
	}
	switch exporter {
	case "":
		return tracingConfig{On: endpoint && !disabled}
	case "otlp":
		return tracingConfig{On: !disabled}
	case "none":
		return tracingConfig{}
	}
	e.problem("OTEL_TRACES_EXPORTER", "%q is not supported: otlp or none", exporter)
	return tracingConfig{}
}

// newTracing returns the TracerProvider of cfg, nil when tracing is off,
// and a function that flushes and stops it within timeout. Export
// failures are logged by log (at most as often as the batch processor
// exports, every 5 s by default).
func newTracing(ctx context.Context, cfg tracingConfig, log *slog.Logger) (trace.TracerProvider, func(timeout time.Duration), error) {
	if !cfg.On {
		return nil, func(time.Duration) {}, nil
	}
	exp, err := otlptracehttp.New(ctx) // endpoint, headers, TLS, timeout: OTEL_EXPORTER_OTLP_*
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "chatsync"),
			attribute.String("service.version", buildVersion())),
		resource.WithFromEnv()) // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER, the batching from
	// OTEL_BSP_*: NewTracerProvider reads them.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	log.Info("tracing on", "exporter", "otlp/http")
	return tp, func(timeout time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("tracing: flush at exit", "err", err)
		}
	}, nil
}
