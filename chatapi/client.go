// Package chatapi is a client for the Tencent Cloud Chat REST API: the
// read-state calls chatsync makes (admin_set_msg_read, c2c_msg_read_receipt,
// get_c2c_unread_msg_num) and the account and message calls its development
// and end-to-end flows need.
//
// A Client signs every call with a cached admin UserSig, makes exactly one
// attempt per call (plus one immediate retry after regenerating an expired
// UserSig) and reports failures as *Error, whose Class tells the caller
// whether to retry. Retries, backoff and rate limiting belong to the caller.
// The package knows nothing of queues, Redis or HTTP servers.
package chatapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Region is a Chat data centre. The REST domain must match the region the
// SDKAppID was created in.
type Region string

// The regions and their REST domains (tencent-chat.md §1.2).
const (
	China         Region = "china"
	Singapore     Region = "singapore"
	Seoul         Region = "seoul"
	Tokyo         Region = "tokyo"
	Frankfurt     Region = "frankfurt"
	SiliconValley Region = "siliconvalley"
	Jakarta       Region = "jakarta"
)

// Host returns the region's primary REST domain, or "" for an unknown region.
func (r Region) Host() string {
	switch r {
	case China:
		return "console.tim.qq.com"
	case Singapore:
		return "adminapisgp.im.qcloud.com"
	case Seoul:
		return "adminapikr.im.qcloud.com"
	case Tokyo:
		return "adminapijpn.im.qcloud.com"
	case Frankfurt:
		return "adminapiger.im.qcloud.com"
	case SiliconValley:
		return "adminapiusa.im.qcloud.com"
	case Jakarta:
		return "adminapiidn.im.qcloud.com"
	}
	return ""
}

// Regions lists every known region, for help texts and validation messages.
func Regions() []Region {
	return []Region{China, Singapore, Seoul, Tokyo, Frankfurt, SiliconValley, Jakarta}
}

// Defaults for Config's zero values.
const (
	DefaultTimeout    = 5 * time.Second // above Chat's 3 s server-side timeout
	DefaultUserSigTTL = 7 * 24 * time.Hour
	MinUserSigTTL     = 24 * time.Hour // Chat's documented minimum validity
	MaxUnreadPeers    = 10             // peers per get_c2c_unread_msg_num call
	// MaxReceiptMsgs is the most messages chatsync puts in one
	// c2c_msg_read_receipt call's C2CMsgInfo. Chat documents no maximum;
	// this is an assumption (the emulator enforces it), kept well inside
	// what Chat's other message APIs accept in one request.
	MaxReceiptMsgs = 100
)

// Config configures a Client. SDKAppID, SecretKey, Admin and one of Region
// or BaseURL are required; zero values of the rest mean the defaults.
type Config struct {
	SDKAppID  uint64 // the app's SDKAppID
	SecretKey string // the console secret key used to sign UserSigs
	Admin     string // an App admin account, used as the identifier
	Region    Region // selects the REST domain (https)
	BaseURL   string // overrides Region, e.g. "http://127.0.0.1:9000" for the emulator

	// HTTPClient makes the calls. The default has a DefaultTimeout timeout
	// and a keep-alive pool sized for many concurrent workers.
	HTTPClient *http.Client
	// UserSigTTL is the validity of generated UserSigs (default 7 days,
	// at least 24 h). A UserSig is replaced after half of it.
	UserSigTTL time.Duration
	// Now returns the current time (default time.Now). It decides when the
	// cached UserSig is refreshed.
	Now func() time.Time
	// Observe, when set, is called after every HTTP attempt: for metrics.
	// It must be safe for concurrent use and fast.
	Observe func(Call)
	// TracerProvider, when set, makes a span of every call (see trace.go).
	// Nil means no tracing, at no cost.
	TracerProvider trace.TracerProvider
}

// Call describes one HTTP attempt, for Config.Observe.
type Call struct {
	API        string        // "openim/admin_set_msg_read"
	Code       int           // Chat's ErrorCode; -1 when no answer was decoded
	HTTPStatus int           // 0 when no response arrived
	Duration   time.Duration // time from sending to the decoded answer or failure
}

// Client calls the Chat REST API. It is safe for concurrent use.
type Client struct {
	base     string // scheme://host, no trailing slash
	sdkAppID string
	admin    string
	http     *http.Client
	sigs     *sigCache
	observe  func(Call)
	before   func(ctx context.Context, api string) error
	tracer   trace.Tracer // nil: no tracing
}

// WithBeforeCall returns a Client that calls fn before every HTTP attempt,
// including the immediate retry after a UserSig was regenerated, so that a
// rate limiter in fn governs every request that reaches Chat. When fn
// fails the attempt is not made and the call returns a Transient *Error
// wrapping fn's error (use errors.As to find it). The copy shares the
// original's UserSig cache and HTTP client.
func (c *Client) WithBeforeCall(fn func(ctx context.Context, api string) error) *Client {
	cp := *c
	cp.before = fn
	return &cp
}

// New returns a Client for cfg, or an error naming every invalid field.
func New(cfg Config) (*Client, error) {
	var problems []string
	if !ValidSDKAppID(cfg.SDKAppID) {
		problems = append(problems, "SDKAppID must be a positive 32-bit integer")
	}
	if cfg.SecretKey == "" {
		problems = append(problems, "SecretKey is required")
	}
	if err := checkUserID("Admin", cfg.Admin); err != "" {
		problems = append(problems, err)
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	switch {
	case base != "":
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, "BaseURL must be an absolute http(s) URL")
		}
	case cfg.Region.Host() != "":
		base = "https://" + cfg.Region.Host()
	case cfg.Region == "":
		problems = append(problems, "Region or BaseURL is required")
	default:
		problems = append(problems, fmt.Sprintf("Region %q is unknown (want one of %v)", cfg.Region, Regions()))
	}
	if cfg.UserSigTTL == 0 {
		cfg.UserSigTTL = DefaultUserSigTTL
	}
	if cfg.UserSigTTL < MinUserSigTTL {
		problems = append(problems, "UserSigTTL must be at least 24h")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("chatapi config: %s", strings.Join(problems, "; "))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var tracer trace.Tracer
	if cfg.TracerProvider != nil {
		tracer = cfg.TracerProvider.Tracer("github.com/chatsync/chatsync/chatapi")
	}
	return &Client{
		tracer:   tracer,
		base:     base,
		sdkAppID: strconv.FormatUint(cfg.SDKAppID, 10),
		admin:    cfg.Admin,
		http:     cfg.HTTPClient,
		observe:  cfg.Observe,
		sigs: &sigCache{
			sdkAppID: int(cfg.SDKAppID),
			key:      cfg.SecretKey,
			admin:    cfg.Admin,
			ttl:      cfg.UserSigTTL,
			now:      cfg.Now,
		},
	}, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t, Timeout: DefaultTimeout}
}

// Envelope is the part every Chat answer has. Response types embed it.
type Envelope struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

func (e *Envelope) envelope() *Envelope { return e }

// Response is implemented by every type that embeds Envelope.
type Response interface{ envelope() *Envelope }

// maxResponse bounds how much of an answer is read (admin_getroammsg pages
// are ≈13 KB; nothing chatsync calls comes near this).
const maxResponse = 4 << 20

// Do calls api ("openim/sendmsg") with in as the JSON body and decodes the
// answer into out. A non-zero ErrorCode, a non-200 status or a transport
// failure comes back as *Error. On ErrorCode 70001 or 70052 it regenerates
// the UserSig and tries once more. Do is the building block of the typed
// methods; use it for APIs they do not cover.
func (c *Client) Do(ctx context.Context, api string, in any, out Response) (err error) {
	if c.tracer != nil {
		var end func(error)
		ctx, end = c.startSpan(ctx, api)
		defer func() { end(err) }()
	}
	body, err := json.Marshal(in)
	if err != nil {
		return &Error{API: api, Info: "encode request", Err: errors.Join(ErrInvalidRequest, err)}
	}
	sig, err := c.sigs.get()
	if err != nil {
		return &Error{API: api, Info: "sign request", Err: err}
	}
	err = c.attempt(ctx, api, sig, body, out)
	if ClassOf(err) == SigExpired {
		if sig, err = c.sigs.renew(sig); err != nil {
			return &Error{API: api, Info: "sign request", Err: err}
		}
		*out.envelope() = Envelope{}
		if c.tracer != nil {
			trace.SpanFromContext(ctx).SetAttributes(AttrSigRenewed.Bool(true))
		}
		err = c.attempt(ctx, api, sig, body, out)
	}
	return err
}

// attempt makes one HTTP call.
func (c *Client) attempt(ctx context.Context, api, sig string, body []byte, out Response) error {
	if c.before != nil {
		if err := c.before(ctx, api); err != nil {
			return &Error{API: api, Info: "before call", Err: err}
		}
	}
	start := time.Now()
	code, status, err := c.roundTrip(ctx, api, sig, body, out)
	if c.observe != nil {
		c.observe(Call{API: api, Code: code, HTTPStatus: status, Duration: time.Since(start)})
	}
	if c.tracer != nil {
		noteAttempt(ctx, code, status)
	}
	return err
}

func (c *Client) roundTrip(ctx context.Context, api, sig string, body []byte, out Response) (code, status int, err error) {
	q := url.Values{
		"sdkappid":    {c.sdkAppID},
		"identifier":  {c.admin},
		"usersig":     {sig},
		"random":      {strconv.FormatUint(uint64(rand.Uint32()), 10)},
		"contenttype": {"json"},
	}
	endpoint := c.base + "/v4/" + api
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return -1, 0, &Error{API: api, Info: "build request", Err: redact(err, endpoint)}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return -1, 0, &Error{API: api, Info: "send request", Err: redact(err, endpoint)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return -1, resp.StatusCode, &Error{API: api, Info: "read response", HTTPStatus: resp.StatusCode, Err: redact(err, endpoint)}
	}
	if resp.StatusCode != http.StatusOK {
		return -1, resp.StatusCode, &Error{API: api, HTTPStatus: resp.StatusCode, Info: http.StatusText(resp.StatusCode)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return -1, resp.StatusCode, &Error{API: api, HTTPStatus: resp.StatusCode, Info: "decode response", Err: err}
	}
	env := out.envelope()
	if env.ErrorCode != 0 || env.ActionStatus != "OK" {
		info := env.ErrorInfo
		if env.ErrorCode == 0 {
			info = "ActionStatus " + strconv.Quote(env.ActionStatus) + " without ErrorCode: " + info
		}
		return env.ErrorCode, resp.StatusCode, &Error{API: api, Code: env.ErrorCode, Info: info, HTTPStatus: resp.StatusCode}
	}
	return 0, resp.StatusCode, nil
}

// redact removes the query string (which holds the UserSig) from errors
// that quote the request URL, as net/http's *url.Error does.
func redact(err error, endpoint string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: endpoint, Err: ue.Err}
	}
	return err
}

// IsTimeout reports whether err is a timeout: the client's, the context's
// deadline, or the network's.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// checkUserID returns a problem description for an invalid UserID, or "".
func checkUserID(field, id string) string {
	switch CheckUserID(id) {
	case ErrUserIDEmpty:
		return field + " is required"
	case ErrUserIDTooLong:
		return fmt.Sprintf("%s is %d bytes, more than %d", field, len(id), MaxUserIDLen)
	}
	return ""
}
