package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

// Defaults used for zero Config fields.
const (
	DefaultAdmin           = "administrator"
	DefaultRateLimit       = 200
	DefaultCallbackTimeout = 2 * time.Second
	DefaultKeepRequests    = 1000
)

// maxUserIDLen is Chat's limit on a UserID, in bytes.
const maxUserIDLen = chatapi.MaxUserIDLen

// Config configures an Emulator. Zero values mean the documented defaults.
type Config struct {
	// SDKAppID is the app's SDKAppID. Required.
	SDKAppID uint64
	// SecretKey is the app's secret key, used to verify UserSigs. Required.
	SecretKey string
	// Admins are the App admin identifiers allowed to call the REST API.
	// Default [DefaultAdmin]. Admins are always imported accounts.
	Admins []string
	// RateLimit is the number of calls per second accepted for each API.
	// 0 means DefaultRateLimit; a negative value means unlimited.
	RateLimit int
	// CallbackURL receives the callbacks; "" sends none. SetCallbackURL changes it later.
	CallbackURL string
	// CallbackToken, when set, adds Sign and RequestTime to every callback.
	CallbackToken string
	// BeforeSendMsgCallback makes sendmsg post C2C.CallbackBeforeSendMsg synchronously first
	// (unless ForbidBeforeSendMsgCallback) and honour the reply. Off by default: the after-event
	// callbacks are always on while CallbackURL is set.
	BeforeSendMsgCallback bool
	// CallbackTimeout bounds each callback. Default DefaultCallbackTimeout.
	CallbackTimeout time.Duration
	// HTTPClient sends the callbacks. Default a client with keep-alive.
	HTTPClient *http.Client
	// Now is the clock for MsgTime, UserSig expiry, the rate limit and RequestTime.
	// Default time.Now.
	Now func() time.Time
	// MaxReceiptMsgs is the most C2CMsgInfo items c2c_msg_read_receipt
	// accepts; more answer 20001. Chat documents no maximum: this is an
	// assumption, 0 meaning chatapi.MaxReceiptMsgs (the most chatsync ever
	// sends); a negative value means unlimited.
	MaxReceiptMsgs int
	// KeepRequests is how many recent requests (all APIs together) Requests keeps.
	// 0 means DefaultKeepRequests; a negative value keeps none.
	KeepRequests int
	// Seed seeds the randomness of fault injection and generated MsgSeqs.
	// 0 seeds from the time.
	Seed int64
	// Logger receives debug records of calls and warnings about failed callbacks.
	// UserSigs, secrets and message bodies are never logged. Default: discard.
	Logger *slog.Logger
}

func (c Config) validate() error {
	var errs []error
	if c.SDKAppID == 0 {
		errs = append(errs, errors.New("SDKAppID is required"))
	}
	if c.SecretKey == "" {
		errs = append(errs, errors.New("SecretKey is required"))
	}
	for _, a := range c.Admins {
		if !validUserID(a) {
			errs = append(errs, fmt.Errorf("admin %q must be 1 to %d bytes", a, maxUserIDLen))
		}
	}
	if c.CallbackURL != "" {
		if err := checkCallbackURL(c.CallbackURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.CallbackTimeout < 0 {
		errs = append(errs, errors.New("CallbackTimeout must not be negative"))
	}
	return errors.Join(errs...)
}

func checkCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("callback URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("callback URL %q must be an absolute http or https URL", raw)
	}
	return nil
}

func validUserID(id string) bool { return chatapi.CheckUserID(id) == nil }

// Emulator is an in-memory Chat REST server. Create it with New, serve Handler, and Close it
// when done. All methods are safe for concurrent use.
type Emulator struct {
	appID    uint64
	key      string
	sdkAppID string // decimal, for the query check
	now      func() time.Time
	log      *slog.Logger
	admins   map[string]bool
	mux      *http.ServeMux
	// beforeSend enables C2C.CallbackBeforeSendMsg.
	beforeSend bool
	// maxReceipt bounds c2c_msg_read_receipt's C2CMsgInfo; 0 = unlimited.
	maxReceipt int

	sigs    sigCache
	limiter limiter
	faults  faults
	rec     recorder
	cb      *dispatcher

	rngMu sync.Mutex
	rng   *rand.Rand

	mu sync.Mutex // guards st
	st state
}

// New returns an Emulator for cfg, or an error listing every invalid field.
func New(cfg Config) (*Emulator, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("emulator config: %w", err)
	}
	if len(cfg.Admins) == 0 {
		cfg.Admins = []string{DefaultAdmin}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxReceiptMsgs == 0 {
		cfg.MaxReceiptMsgs = chatapi.MaxReceiptMsgs
	}
	if cfg.KeepRequests == 0 {
		cfg.KeepRequests = DefaultKeepRequests
	}
	seed := uint64(cfg.Seed)
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	e := &Emulator{
		appID:      cfg.SDKAppID,
		key:        cfg.SecretKey,
		sdkAppID:   fmt.Sprint(cfg.SDKAppID),
		now:        cfg.Now,
		log:        cfg.Logger,
		admins:     make(map[string]bool, len(cfg.Admins)),
		beforeSend: cfg.BeforeSendMsgCallback,
		maxReceipt: max(cfg.MaxReceiptMsgs, 0),
		rng:        rand.New(rand.NewPCG(seed, 2)),
		st:         newState(),
	}
	e.limiter.init(cfg.RateLimit)
	e.faults.init(seed)
	e.rec.init(max(cfg.KeepRequests, 0))
	e.cb = newDispatcher(cfg, &e.rec)
	for _, a := range cfg.Admins {
		e.admins[a] = true
		e.st.importAccount(a, "", "")
	}
	e.mux = e.routes()
	return e, nil
}

// Handler returns the HTTP handler serving /v4/{svc}/{cmd} and the inspection surface under
// /emulator/.
func (e *Emulator) Handler() http.Handler { return e.mux }

// Close stops sending new callbacks and waits for those in flight. The handler keeps answering
// REST calls.
func (e *Emulator) Close() { e.cb.close() }

// SetCallbackURL sets where callbacks go; "" stops them. An invalid URL makes every callback
// fail (and count as failed in Stats).
func (e *Emulator) SetCallbackURL(url string) { e.cb.setURL(url) }

// SetRateLimit sets the per-API calls per second: 0 means DefaultRateLimit, a negative value
// unlimited.
func (e *Emulator) SetRateLimit(perSecond int) { e.limiter.set(perSecond) }

// WaitCallbacks blocks until no callback is queued or in flight, or ctx is done, in which case
// it returns ctx.Err().
func (e *Emulator) WaitCallbacks(ctx context.Context) error { return e.cb.wait(ctx) }

// randUint32 returns a random uint32 from the seeded source.
func (e *Emulator) randUint32() uint32 {
	e.rngMu.Lock()
	defer e.rngMu.Unlock()
	return e.rng.Uint32()
}
