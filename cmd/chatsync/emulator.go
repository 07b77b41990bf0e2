package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

const emulatorUsage = `Runs the Chat REST emulator (package chatapi/emulator) on its own: an in-memory
Tencent Cloud Chat server that checks UserSigs, parameters and field types the way
Chat does, keeps accounts, messages, read state and unread counts, sends C2C
callbacks to EMULATOR_CALLBACK_URL and can inject faults. Point CHAT_BASE_URL of
chatsync serve/work at it. Its inspection and fault API is under /emulator/
(GET /emulator/stats, PUT /emulator/faults/{svc}/{cmd}, …; see the package doc).

Environment:
  EMULATOR_ADDR          listen address (default 127.0.0.1:9000; warns unless loopback:
                         /emulator/ is unauthenticated and can point callbacks anywhere)
  CHAT_SDKAPPID          the SDKAppID it answers to (required)
  CHAT_SECRET_KEY        the secret key UserSigs must be signed with (required)
  CHAT_ADMIN             the App admin identifier (default administrator)
  EMULATOR_RATE_LIMIT    calls per second per API (default 200; -1 = unlimited)
  EMULATOR_CALLBACK_URL  where callbacks go, e.g. http://127.0.0.1:8080/callback (default: none)
  CHAT_CALLBACK_TOKEN    signs callbacks with Sign/RequestTime (default: unsigned)
  EMULATOR_ACCOUNTS      accounts to import at start, comma-separated
  EMULATOR_FAULTS        faults at start, JSON by API, e.g.
                         {"openim/admin_set_msg_read":{"Codes":[20004],"Probability":0.1}}
  LOG_LEVEL, LOG_FORMAT  as for serve

A Fault has Codes (ErrorCodes, round-robin), Probability (0..1), Count (fail the next N
calls), Latency ("50ms") and HTTPStatus (answer with this status instead).
`

// emulatorConfig configures `chatsync emulator`.
type emulatorConfig struct {
	Addr          string
	SDKAppID      uint64
	SecretKey     string
	Admin         string
	RateLimit     int
	CallbackURL   string
	CallbackToken string
	Accounts      []string
	Faults        map[string]emulator.Fault
	LogLevel      slog.Level
	LogFormat     string
}

// parseEmulatorConfig reads the emulator's environment; faultFlags are the
// -fault flags ("api=JSON"), applied over EMULATOR_FAULTS.
func parseEmulatorConfig(lookup func(string) (string, bool), faultFlags []string) (emulatorConfig, error) {
	e := &env{lookup: lookup}
	c := emulatorConfig{
		Addr:          e.addr("EMULATOR_ADDR", devEmulatorAddr),
		SecretKey:     e.required("CHAT_SECRET_KEY"),
		Admin:         e.str("CHAT_ADMIN", defaultAdmin),
		RateLimit:     e.integer("EMULATOR_RATE_LIMIT", 0, -1, 1000000),
		CallbackURL:   e.httpURL("EMULATOR_CALLBACK_URL"),
		CallbackToken: e.str("CHAT_CALLBACK_TOKEN", ""),
		Accounts:      e.userIDs("EMULATOR_ACCOUNTS"),
		Faults:        map[string]emulator.Fault{},
		LogLevel:      e.logLevel("LOG_LEVEL"),
		LogFormat:     e.oneOf("LOG_FORMAT", "json", "json", "text"),
	}
	if id := e.required("CHAT_SDKAPPID"); id != "" {
		n, err := chatapi.ParseSDKAppID(id)
		if err != nil {
			e.problem("CHAT_SDKAPPID", "%v", err)
		}
		c.SDKAppID = n
	}
	if s := e.str("EMULATOR_FAULTS", ""); s != "" {
		if err := json.Unmarshal([]byte(s), &c.Faults); err != nil {
			e.problem("EMULATOR_FAULTS", "not a JSON object of faults by API: %v", err)
		}
	}
	for _, f := range faultFlags {
		api, spec, ok := strings.Cut(f, "=")
		var fault emulator.Fault
		if err := json.Unmarshal([]byte(spec), &fault); !ok || err != nil {
			e.problem("-fault", "%q is not api=JSON, e.g. openim/sendmsg={\"Codes\":[20004],\"Count\":3}", f)
			continue
		}
		c.Faults[api] = fault
	}
	return c, e.err()
}

// newEmulator builds an emulator for c, with its accounts imported and its
// faults set. Faults go through the emulator's own fault API, so they are
// checked exactly as a PUT /emulator/faults/{svc}/{cmd} would be.
func newEmulator(c emulatorConfig, log *slog.Logger) (*emulator.Emulator, error) {
	em, err := emulator.New(emulator.Config{
		SDKAppID:      c.SDKAppID,
		SecretKey:     c.SecretKey,
		Admins:        []string{c.Admin},
		RateLimit:     c.RateLimit,
		CallbackURL:   c.CallbackURL,
		CallbackToken: c.CallbackToken,
		Logger:        log,
	})
	if err != nil {
		return nil, err
	}
	em.ImportAccounts(c.Accounts...)
	apis := make([]string, 0, len(c.Faults))
	for api := range c.Faults {
		apis = append(apis, api)
	}
	sort.Strings(apis)
	for _, api := range apis {
		body, _ := json.Marshal(c.Faults[api]) // a Fault always marshals
		req := httptest.NewRequest(http.MethodPut, "/emulator/faults/"+api, strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		em.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			em.Close()
			return nil, &configError{problems: []string{fmt.Sprintf("fault %s: %s", api, strings.TrimSpace(rec.Body.String()))}}
		}
	}
	return em, nil
}

// faultFlags collects repeated -fault flags.
type faultFlags []string

var _ flag.Value = (*faultFlags)(nil)

func (f *faultFlags) String() string     { return strings.Join(*f, " ") }
func (f *faultFlags) Set(v string) error { *f = append(*f, v); return nil }

func runEmulator(ctx context.Context, p *process, args []string) error {
	fs := newFlagSet("emulator")
	var faults faultFlags
	fs.Var(&faults, "fault", "inject a fault: `api=JSON`, e.g. 'openim/admin_set_msg_read={\"Codes\":[20004],\"Probability\":0.2}' (repeatable)")
	if err := p.parseNoArgs(fs, args, "emulator [-fault api=JSON]...", emulatorUsage); err != nil {
		return err
	}
	cfg, err := parseEmulatorConfig(p.lookup, faults)
	if err != nil {
		return err
	}
	log := newLogger(p.stderr, cfg.LogFormat, cfg.LogLevel)
	em, err := newEmulator(cfg, log.With("component", "emulator"))
	if err != nil {
		return err
	}
	defer em.Close()
	ln, err := listen(cfg.Addr, 0, nil)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	warnIfPublic(log, ln, "the Chat emulator", "EMULATOR_ADDR")
	srv := newHTTPServer(em.Handler(), log)
	log.Info("chat emulator listening", "addr", ln.Addr().String(), "sdkappid", cfg.SDKAppID,
		"admin", cfg.Admin, "accounts", len(cfg.Accounts), "faults", len(cfg.Faults),
		"callbacks", cfg.CallbackURL != "", "signed_callbacks", cfg.CallbackToken != "")
	return serveUntilDone(ctx, srv, ln, log, defaultShutdownTimeout)
}
