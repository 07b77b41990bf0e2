package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

const devUsage = `Runs all of chatsync in one process, with no Chat account and no Redis to set up:
an embedded Redis (miniredis; REDIS_URL uses a real one instead), the Chat emulator with
the demo accounts alice, bob and carol and its callbacks wired to chatsync itself,
'serve' and 'work'. It prints the URLs and commands that send a message through the
emulator, show the unread count, mark the conversation read and show the count drop.

The Chat app, its secret key, callback token, events secret, API key and monitoring
password are dev's own demo values, printed on purpose; never use them for real Chat.

Environment (all optional):
  HTTP_ADDR            chatsync's public listen address (default 127.0.0.1:8080)
  ADMIN_ADDR           /metrics, /healthz, /readyz and /monitoring/ (default 127.0.0.1:9090)
  EMULATOR_ADDR        the emulator's listen address (default 127.0.0.1:9000; warns
                       unless loopback)
  REDIS_URL            use this Redis instead of the embedded one
  API_KEY, EVENTS_SECRET, MONITORING_USER, MONITORING_PASSWORD, MONITORING_READONLY,
  AUTO_READ_ACCOUNTS, CHAT_RATE_LIMIT, WORKER_CONCURRENCY, QUEUE_WEIGHTS,
  UNREAD_DEBOUNCE, TASK_MAX_RETRY, SINK_URL, SINK_SECRET, SHUTDOWN_TIMEOUT
                       as for serve and work
  LOG_LEVEL            debug, info, warn or error (default info)
  LOG_FORMAT           text or json (default text)

Tracing (OpenTelemetry; off unless an OTLP endpoint or OTEL_TRACES_EXPORTER=otlp is set):
` + tracingHelp

// Dev's demo values. They are not secrets: dev prints them so that its
// commands can be pasted.
const (
	devSDKAppID      = 1400000000
	devSecretKey     = "chatsync-dev-secret-key-not-for-real-chat"
	devCallbackToken = "chatsync-dev-callback-token"
	devAPIKey        = "dev-api-key"
	devEventsKey     = "chatsync-dev-events-secret" // whsec_ + base64 of this
	devMonitoring    = "dev"                        // user and password
	devHTTPAddr      = "127.0.0.1:8080"             // dev listens on loopback only
	devEmulatorAddr  = "127.0.0.1:9000"
	devUserSigTTL    = 7 * 24 * time.Hour
)

// devAccounts are imported into dev's emulator.
var devAccounts = []string{"alice", "bob", "carol"}

// devConfig completes a dev configuration with the demo values where the
// environment left them unset. shown holds what the banner may print of
// each secret: the demo value, or a shell reference to the variable the
// user set (their secrets are never printed).
func devConfig(c config, lookup func(string) (string, bool)) (_ config, shown devSecrets) {
	isSet := func(name string) bool { v, _ := lookup(name); return strings.TrimSpace(v) != "" }
	c.SDKAppID, c.SecretKey, c.Region, c.BaseURL = devSDKAppID, devSecretKey, "", ""
	c.CallbackToken, c.CallbackInsecure = devCallbackToken, false
	shown = devSecrets{APIKey: "$API_KEY", EventsSecret: "$EVENTS_SECRET", MonitoringPassword: "$MONITORING_PASSWORD"}
	if !isSet("HTTP_ADDR") {
		c.HTTPAddr = devHTTPAddr
	}
	if c.APIKey == "" {
		c.APIKey, shown.APIKey = devAPIKey, devAPIKey
	}
	if len(c.EventSecrets) == 0 {
		c.EventSecrets = []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte(devEventsKey))}
		shown.EventsSecret = c.EventSecrets[0]
	}
	if c.MonitoringUser == "" {
		c.MonitoringUser, c.MonitoringPassword = devMonitoring, devMonitoring
		shown.MonitoringPassword = devMonitoring
	}
	if !isSet("MONITORING_READONLY") {
		c.MonitoringReadOnly = false // a playground: retry, delete and archive tasks at will
	}
	return c, shown
}

// devSecrets are the printable forms of dev's secrets.
type devSecrets struct {
	APIKey, EventsSecret, MonitoringPassword string
}

func runDev(ctx context.Context, p *process, args []string) error {
	if err := p.parseNoArgs(newFlagSet("dev"), args, "dev", devUsage); err != nil {
		return err
	}
	cfg, err := parseConfig(modeDev, p.lookup)
	if err != nil {
		return err
	}
	cfg, shown := devConfig(cfg, p.lookup)
	log := newLogger(p.stderr, cfg.LogFormat, cfg.LogLevel)
	sig, err := tencentyun.GenUserSig(devSDKAppID, devSecretKey, cfg.Admin, int(devUserSigTTL/time.Second))
	if err != nil {
		return fmt.Errorf("generate usersig: %w", err)
	}
	embedded := cfg.Redis == nil
	if embedded {
		mr, opt, err := embeddedRedis()
		if err != nil {
			return err
		}
		defer mr.Close()
		cfg.Redis = &redisConfig{Single: opt}
	}
	a, err := newApp(ctx, cfg, log, embedded)
	if err != nil {
		return err
	}
	defer a.close()

	em, err := newEmulator(emulatorConfig{SDKAppID: cfg.SDKAppID, SecretKey: cfg.SecretKey, Admin: cfg.Admin,
		CallbackToken: cfg.CallbackToken, Accounts: devAccounts}, log.With("component", "emulator"))
	if err != nil {
		return err
	}
	defer em.Close()
	emu, err := startListener(cfg.EmulatorAddr, "EMULATOR_ADDR", 0, nil, em.Handler(), log)
	if err != nil {
		return err
	}
	warnIfPublic(log, emu.ln, "the Chat emulator", "EMULATOR_ADDR")
	defer emu.stop(time.Second) // deferred, so after the workers stopped: they still reach the emulator

	public, admin, closeMonitoring, err := a.newHTTP()
	if err != nil {
		return err
	}
	defer closeMonitoring()
	// The public listener first, as in serve: its connection metrics are
	// on /metrics from the admin listener's first answer.
	pub, err := a.startPublic(public)
	if err != nil {
		return err
	}
	adm, err := startListener(cfg.AdminAddr, "ADMIN_ADDR", 0, nil, admin, log)
	if err != nil {
		return errors.Join(err, pub.stop(time.Second))
	}
	defer adm.stop(time.Second)
	b := devBanner{Base: baseURL(pub.ln.Addr()), Admin: baseURL(adm.ln.Addr()), Emulator: baseURL(emu.ln.Addr()),
		ChatAdmin: cfg.Admin, UserSig: sig, Secrets: shown, MonitoringUser: cfg.MonitoringUser,
		Embedded: embedded, Program: p.name}
	em.SetCallbackURL(b.Base + "/callback")
	w, err := a.startWorker(b.Emulator)
	if err != nil {
		return errors.Join(err, pub.stop(time.Second))
	}
	err = printDevBanner(p.stdout, b)
	if err == nil {
		select {
		case err = <-pub.errc:
		case err = <-emu.errc:
		case err = <-adm.errc:
		case <-ctx.Done():
		}
	}
	log.Info("shutting down")
	// Stop taking requests, then let the workers finish; the deferred
	// calls stop the emulator and Redis.
	err = errors.Join(err, pub.stop(cfg.ShutdownTimeout))
	w.stop()
	return err
}

// baseURL returns http://host:port for a listener, with a wildcard host
// replaced by the loopback address so that the URL can be pasted.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// invokedAs returns how to invoke this program in printed commands: "go
// run ./cmd/chatsync" under go run (whose binary is temporary), otherwise
// the path it was started with.
func invokedAs() string {
	arg0 := os.Args[0]
	if strings.Contains(filepath.ToSlash(arg0), "/go-build") {
		return "go run ./cmd/chatsync"
	}
	return arg0
}

// devBanner is what dev prints once it is up.
type devBanner struct {
	Base, Admin, Emulator string // public, admin and emulator URLs
	ChatAdmin, UserSig    string // the demo app's admin and a UserSig for it
	Secrets               devSecrets
	MonitoringUser        string
	Embedded              bool
	Program               string // how to invoke chatsync
}

// devTryIt is the line before the commands that dev's end-to-end test runs.
const devTryIt = "Try it (each command on one line):"

// devBannerText is what dev prints once it is up; its commands are pasted
// and run by dev's end-to-end test.
var devBannerText = template.Must(template.New("banner").Parse(`
chatsync dev is up: serve, work, Redis {{if .Embedded}}embedded (miniredis, in memory){{else}}REDIS_URL{{end}},
and the Chat emulator (SDKAppID {{.SDKAppID}}, admin {{.ChatAdmin}}, accounts {{.Accounts}}).
The keys and the UserSig below are dev's own demo values, so printing them is fine;
never use them for real Chat.

  Callback target   {{.Base}}/callback   (token {{.CallbackToken}})
  Events API        {{.Base}}/v1/events   (EVENTS_SECRET {{.Secrets.EventsSecret}})
  Unread API        {{.Base}}/v1/users/{id}/unread   (Authorization: Bearer {{.Secrets.APIKey}})
  Monitoring UI     {{.Admin}}/monitoring/   (user {{.MonitoringUser}}, password {{.Secrets.MonitoringPassword}})
  Metrics           {{.Admin}}/metrics
  Chat emulator     {{.Emulator}}   (REST under /v4/, inspection under /emulator/stats)

{{.TryIt}}
  # 1. alice sends bob a message through the emulator; its AfterSendMsg callback reaches chatsync
  curl -sS -X POST '{{.Emulator}}/v4/openim/sendmsg?sdkappid={{.SDKAppID}}&identifier={{.ChatAdmin}}&usersig={{.UserSig}}&random=1&contenttype=json' -H 'Content-Type: application/json' -d '{"From_Account":"alice","To_Account":"bob","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello bob"}}]}'
  # 2. a moment later chatsync knows bob's unread count: total 1
  {{template "unread" .}}
  # 3. bob read his conversation with alice: a signed conversation.read app event
  EVENTS_SECRET="{{.Secrets.EventsSecret}}" {{.Program}} event conversation.read -url {{.Base}}/v1/events -account bob -peer alice
  # 4. a moment later chatsync has called admin_set_msg_read and bob's total is 0
  {{template "unread" .}}

Press Ctrl-C to stop.
{{define "unread"}}curl -sS -H "Authorization: Bearer {{.Secrets.APIKey}}" {{.Base}}/v1/users/bob/unread{{end}}`))

// printDevBanner writes dev's banner for b to w.
func printDevBanner(w io.Writer, b devBanner) error {
	return devBannerText.Execute(w, struct {
		devBanner
		SDKAppID                       int
		Accounts, CallbackToken, TryIt string
	}{b, devSDKAppID, strings.Join(devAccounts, ", "), devCallbackToken, devTryIt})
}
