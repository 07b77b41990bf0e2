package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/tasks"
	"github.com/chatsync/chatsync/webhook"
)

const eventUsage = `Posts one app event to chatsync's /v1/events, signed per Standard Webhooks with the
first secret of EVENTS_SECRET (headers webhook-id, webhook-timestamp, webhook-signature),
and prints the answer. A tool for trying chatsync out and for smoke tests; apps sign
their events themselves with a Standard Webhooks library.

Types and their flags:
  conversation.read  -account A -peer P [-read-time UNIX]   → admin_set_msg_read
  messages.read      -account A -peer P -msg-keys K1,K2     → c2c_msg_read_receipt
  unread.refresh     -account A [-peers P1,P2]              → get_c2c_unread_msg_num

Environment:
  EVENTS_SECRET  whsec_… (required; the first of a comma-separated list signs)

Exits 0 when chatsync accepted the event (2xx), 1 otherwise.
`

func runEvent(ctx context.Context, p *process, args []string) error {
	fs := newFlagSet("event")
	url := fs.String("url", "http://127.0.0.1:8080/v1/events", "chatsync's events `URL`")
	id := fs.String("id", "", "the webhook-id, chatsync's idempotency key (default: a random one)")
	var ev webhook.Event
	fs.StringVar(&ev.Account, "account", "", "the `user` who reads, or whose counts to refresh")
	fs.StringVar(&ev.Peer, "peer", "", "the other `user` of the conversation")
	fs.Int64Var(&ev.ReadTime, "read-time", 0, "messages up to this `unix time` (seconds) are read (default: now)")
	msgKeys := fs.String("msg-keys", "", "comma-separated `MsgKeys` of the messages read")
	peers := fs.String("peers", "", "comma-separated `peers` whose counts to refresh")
	const synopsis = "event <conversation.read|messages.read|unread.refresh> [flags]"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := p.parseFlags(fs, args, synopsis, eventUsage); err != nil {
			return err
		}
		return &usageError{msg: "the event type is missing"}
	}
	ev.Type = args[0]
	if err := p.parseNoArgs(fs, args[1:], synopsis, eventUsage); err != nil {
		return err
	}
	types := []string{webhook.EventConversationRead, webhook.EventMessagesRead, webhook.EventUnreadRefresh}
	if !slices.Contains(types, ev.Type) {
		return &usageError{msg: fmt.Sprintf("unknown event type %q (want %s)", ev.Type, strings.Join(types, ", "))}
	}
	ev.MsgKeys, ev.Peers = splitList(*msgKeys), splitList(*peers)
	e := &env{lookup: p.lookup}
	secrets := e.eventSecrets("EVENTS_SECRET")
	if len(secrets) == 0 {
		e.problem("EVENTS_SECRET", "required")
	}
	if err := e.err(); err != nil {
		return err
	}
	if *id == "" {
		*id = randomID()
	}
	status, body, err := postEvent(ctx, *url, secrets[0], *id, ev)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, "%d %s\n", status, strings.TrimSpace(string(body)))
	if status/100 != 2 {
		return fmt.Errorf("chatsync answered %d %s", status, http.StatusText(status))
	}
	return nil
}

// postEvent signs ev with secret and posts it to url as delivery id.
func postEvent(ctx context.Context, url, secret, id string, ev webhook.Event) (status int, body []byte, err error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return 0, nil, fmt.Errorf("encode event: %w", err)
	}
	key, err := tasks.ParseWebhookSecret(secret)
	if err != nil {
		return 0, nil, fmt.Errorf("EVENTS_SECRET %w", err)
	}
	wh, _ := standardwebhooks.NewWebhookRaw(key) // it never fails
	now := time.Now()
	sig, err := wh.Sign(id, now, payload)
	if err != nil {
		return 0, nil, fmt.Errorf("sign event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, fmt.Errorf("event request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("post event: %w", err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// randomID returns a fresh webhook-id: "evt_" and 16 random bytes in hex.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "evt_" + hex.EncodeToString(b)
}
