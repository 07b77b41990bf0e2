package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// Sender plays Chat and the app backend towards one `chatsync serve`: it
// signs and posts callbacks and app events. Every Sign and webhook
// signature it makes is added to its Scanner, so that the log scan proves
// none was logged. It is safe for concurrent use.
type Sender struct {
	base    string
	appID   string
	token   string
	wh      *standardwebhooks.Webhook
	scanner *Scanner
	http    *http.Client
}

// NewSender returns a Sender posting to baseURL ("http://127.0.0.1:port")
// with the credentials in sec.
func NewSender(baseURL string, sec Secrets, sc *Scanner) (*Sender, error) {
	key, err := tasks.ParseWebhookSecret(sec.EventsSecret)
	if err != nil {
		return nil, fmt.Errorf("events secret %w", err)
	}
	wh, _ := standardwebhooks.NewWebhookRaw(key) // it never fails
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &Sender{
		base:    strings.TrimRight(baseURL, "/"),
		appID:   strconv.FormatUint(sec.SDKAppID, 10),
		token:   sec.CallbackToken,
		wh:      wh,
		scanner: sc,
		http:    &http.Client{Transport: t, Timeout: 10 * time.Second},
	}, nil
}

// BaseURL returns the URL of the serve process.
func (s *Sender) BaseURL() string { return s.base }

// Reply is the answer to one request: its status and body, or the
// transport error that left it without one.
type Reply struct {
	Status int
	Body   []byte
	Err    error
}

// ChatOK reports whether r acknowledges a callback: HTTP 200 with
// ActionStatus "OK" and ErrorCode 0.
func (r Reply) ChatOK() bool {
	if r.Err != nil || r.Status != http.StatusOK {
		return false
	}
	var env struct {
		ActionStatus string
		ErrorCode    int
	}
	return json.Unmarshal(r.Body, &env) == nil && env.ActionStatus == "OK" && env.ErrorCode == 0
}

// Accepted reports whether r acknowledges app events: HTTP 202.
func (r Reply) Accepted() bool { return r.Err == nil && r.Status == http.StatusAccepted }

// String describes r for a failure message: the status and body, or the
// transport error.
func (r Reply) String() string {
	if r.Err != nil {
		return "error: " + r.Err.Error()
	}
	return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body))
}

// Sign returns the Sign of requestTime, recording it for the log scan.
func (s *Sender) Sign(requestTime int64) string {
	sign := chatapi.CallbackSign(s.token, requestTime)
	s.scanner.AddToken("a Sign sent", sign)
	return sign
}

// CallbackQuery returns the query Chat would send with command, signed
// for requestTime.
func (s *Sender) CallbackQuery(command string, requestTime int64) string {
	return CallbackQuery(s.appID, command, s.Sign(requestTime), strconv.FormatInt(requestTime, 10))
}

// CallbackQuery returns a callback query with the given values, escaped,
// in Chat's order; empty values are left out.
func CallbackQuery(appID, command, sign, requestTime string) string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + url.QueryEscape(v))
	}
	add("SdkAppid", appID)
	add("CallbackCommand", command)
	add("contenttype", "json")
	add("ClientIP", "127.0.0.1")
	add("OptPlatform", "RESTAPI")
	add("Sign", sign)
	add("RequestTime", requestTime)
	return b.String()
}

// Callback posts a callback signed for now.
func (s *Sender) Callback(ctx context.Context, command string, body []byte) Reply {
	return s.PostCallback(ctx, s.CallbackQuery(command, time.Now().Unix()), body)
}

// PostCallback posts body to /callback?rawQuery as is.
func (s *Sender) PostCallback(ctx context.Context, rawQuery string, body []byte) Reply {
	h := http.Header{"Content-Type": {"application/json"}}
	return s.Do(ctx, http.MethodPost, "/callback?"+rawQuery, h, body)
}

// EventHeaders returns the Standard Webhooks headers for body sent as
// delivery id at ts, recording the signature for the log scan.
func (s *Sender) EventHeaders(id string, ts time.Time, body []byte) http.Header {
	sig, _ := s.wh.Sign(id, ts, body) // signing cannot fail
	s.scanner.AddToken("a webhook-signature sent", strings.TrimPrefix(sig, "v1,"))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h
}

// Events posts body to /v1/events as delivery id, signed for now.
func (s *Sender) Events(ctx context.Context, id string, body []byte) Reply {
	return s.Do(ctx, http.MethodPost, "/v1/events", s.EventHeaders(id, time.Now(), body), body)
}

// Do sends one request to path (with its query) and reads the answer.
func (s *Sender) Do(ctx context.Context, method, path string, h http.Header, body []byte) Reply {
	return s.DoReader(ctx, method, path, h, bytes.NewReader(body))
}

// DoReader is Do with the body read from r. Unless r is a *bytes.Reader,
// *bytes.Buffer or *strings.Reader the body is sent chunked, without a
// Content-Length.
func (s *Sender) DoReader(ctx context.Context, method, path string, h http.Header, r io.Reader) Reply {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, r)
	if err != nil {
		return Reply{Err: err}
	}
	for k, v := range h {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return Reply{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Reply{Status: resp.StatusCode, Err: fmt.Errorf("read answer: %w", err)}
	}
	return Reply{Status: resp.StatusCode, Body: b}
}

// CloseIdle closes the sender's idle connections, e.g. after serve was
// restarted.
func (s *Sender) CloseIdle() { s.http.CloseIdleConnections() }
