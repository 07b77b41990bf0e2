package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// EventUnreadUpdated is the type of the events posted to the sink.
const EventUnreadUpdated = "unread.updated"

// SinkEvent is the body posted to SINK_URL, in the Standard Webhooks shape.
// Data is the user's snapshot when the event is delivered: notifications
// are debounced, and a retry sends the latest state under the same
// webhook-id. Receivers order snapshots by their measurement times.
type SinkEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      *Snapshot `json:"data"`
}

// SinkNotify is the payload of a TypeSinkNotify task: tell the sink about
// Account's snapshot. Token names the pending notification it delivers.
type SinkNotify struct {
	Account string `json:"account"`
	Token   string `json:"token"`
}

// Validate reports the first problem with p as a *FieldError, or nil.
func (p SinkNotify) Validate() error {
	if err := userID("account", p.Account); err != nil {
		return err
	}
	if p.Token == "" {
		return &FieldError{Field: "token", Problem: "is empty"}
	}
	return nil
}

// SinkNotify returns a TypeSinkNotify task (queue QueueSink) whose ID
// derives from idParts. It is not retained after completion.
func (b Builder) SinkNotify(p SinkNotify, idParts ...string) (*asynq.Task, error) {
	return dropID(b.build(TypeSinkNotify, QueueSink, p, p.Validate(), false, idParts))
}

// sink posts signed events to the configured URL.
type sink struct {
	url    string
	wh     *standardwebhooks.Webhook
	client *http.Client
}

// newSink returns nil when no sink is configured. Its client never
// follows a redirect: a 307 or 308 would post the signed body to whatever
// host the answer names.
func newSink(rawURL, secret string, allowHTTP bool, client *http.Client) (*sink, error) {
	if rawURL == "" {
		return nil, nil
	}
	var problems []string
	u, err := url.Parse(rawURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		problems = append(problems, "SinkURL must be an absolute http(s) URL")
	case u.Scheme == "http" && !allowHTTP:
		problems = append(problems, "SinkURL is http://, which sends signed events in the clear (set SinkAllowHTTP to allow it)")
	}
	key, err := ParseWebhookSecret(secret)
	if err != nil {
		problems = append(problems, fmt.Sprintf("SinkSecret must be whsec_ followed by the base64 of %d to %d bytes",
			MinWebhookKey, MaxWebhookKey))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	c := http.Client{Timeout: DefaultSinkTimeout}
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	wh, _ := standardwebhooks.NewWebhookRaw(key) // it never fails
	return &sink{url: rawURL, wh: wh, client: &c}, nil
}

func (w *Worker) enqueueNotify(ctx context.Context, account, token string) error {
	t, err := w.builder(ctx).SinkNotify(SinkNotify{Account: account, Token: token}, account, token)
	if err != nil {
		return err
	}
	if _, err := w.enq.EnqueueContext(ctx, t, w.processAt(w.debounce)); err != nil && !IsDuplicate(err) {
		return fmt.Errorf("enqueue sink notification: %w", err)
	}
	return nil
}

// handleSinkNotify posts the user's current snapshot to the sink. A
// non-2xx answer other than 408 and 429 below 500 is permanent (the sink
// refuses the event; an operator can replay it once fixed); other failures
// are retried.
func (w *Worker) handleSinkNotify(ctx context.Context, t *asynq.Task) error {
	p, err := decode[SinkNotify](t)
	if err != nil {
		return err
	}
	if w.sink == nil {
		return permanent(errors.New("sink notification: no sink configured"))
	}
	// Changes from now on schedule a new notification.
	if _, err := w.store.takeNotification(ctx, p.Account, p.Token); err != nil {
		return err
	}
	snap, err := w.store.Snapshot(ctx, p.Account)
	if errors.Is(err, ErrNoSnapshot) {
		return nil
	}
	if err != nil {
		return err
	}
	id, ok := asynq.GetTaskID(ctx)
	if !ok {
		id = ID(TypeSinkNotify, p.Account, p.Token)
	}
	return w.sink.post(ctx, id, SinkEvent{Type: EventUnreadUpdated, Timestamp: time.Now().UTC(), Data: snap})
}

func (s *sink) post(ctx context.Context, id string, ev SinkEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return permanent(fmt.Errorf("sink: encode event: %w", err))
	}
	sig, err := s.wh.Sign(id, ev.Timestamp, body)
	if err != nil {
		return fmt.Errorf("sink: sign event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("sink: build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ev.Timestamp.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("sink: post: %w", redactURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 300 && c < 400:
		return permanent(fmt.Errorf("sink: HTTP %d redirect not followed: set SINK_URL to the final URL", c))
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		err := fmt.Errorf("sink: HTTP %d", c)
		if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return &retryAfterError{err: err, after: after}
		}
		return err
	default:
		return permanent(fmt.Errorf("sink: HTTP %d", c))
	}
}

// retryAfterError is a transient failure whose answer said when to come
// back (Retry-After). Worker.RetryDelay waits that long, within the
// backoff's cap.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return fmt.Sprintf("%v (retry after %v)", e.err, e.after) }
func (e *retryAfterError) Unwrap() error { return e.err }

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date, relative to now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(max(n, 0)) * time.Second, n >= 0 && n < 1<<31
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// redactURL drops the query (which may carry a token) from errors quoting
// the sink URL.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil {
			u.RawQuery, u.User = "", nil
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}
