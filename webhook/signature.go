package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/chatsync/chatsync/tasks"
)

// Limits on the Standard Webhooks headers, checked before any HMAC.
const (
	maxWebhookIDLen        = 256
	maxWebhookSignatureLen = 4 << 10
)

// eventVerifier checks Standard Webhooks signatures against several
// secrets. It wraps the library where it falls short: the library knows one
// secret per Webhook, checks the timestamp against the package-level
// time.Now with a fixed tolerance, and accepts any secret that decodes.
// Here every configured secret is tried (key rotation on our side; the
// library already accepts several space-separated signatures for rotation
// on the sender's side), the timestamp is checked against Config.Now, and
// secrets are checked at start by tasks.ParseWebhookSecret.
type eventVerifier struct {
	hooks []*standardwebhooks.Webhook
}

// newEventVerifier returns a verifier for secrets, or nil when there are
// none (the events route is off).
func newEventVerifier(secrets []string) (*eventVerifier, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	v := &eventVerifier{}
	for i, sec := range secrets {
		key, err := tasks.ParseWebhookSecret(sec)
		if err != nil {
			return nil, fmt.Errorf("EventSecrets[%d] %w", i, err)
		}
		wh, _ := standardwebhooks.NewWebhookRaw(key) // it never fails
		v.hooks = append(v.hooks, wh)
	}
	return v, nil
}

// Problems verify reports. Their texts go to the caller.
var (
	errWebhookHeaders   = errors.New("webhook-id, webhook-timestamp and webhook-signature are required")
	errWebhookID        = fmt.Errorf("webhook-id is longer than %d bytes or not printable ASCII", maxWebhookIDLen)
	errWebhookTimestamp = errors.New("webhook-timestamp is not unix seconds")
	errWebhookTooOld    = errors.New("webhook-timestamp is more than 5 minutes in the past")
	errWebhookTooNew    = errors.New("webhook-timestamp is more than 5 minutes in the future")
	errWebhookSigLong   = errors.New("webhook-signature is too long")
	errWebhookSignature = errors.New("no matching signature")
)

// checkHeaders checks the Standard Webhooks headers h without the body:
// all three present, the webhook-id well-formed, the signature not
// oversized and the timestamp within EventTolerance of now. It runs
// before the body is read, so that a stranger's request costs no buffer.
// It returns the webhook-id.
func (v *eventVerifier) checkHeaders(h http.Header, now time.Time) (string, error) {
	id := h.Get(standardwebhooks.HeaderWebhookID)
	ts := h.Get(standardwebhooks.HeaderWebhookTimestamp)
	sig := h.Get(standardwebhooks.HeaderWebhookSignature)
	switch {
	case id == "" || ts == "" || sig == "":
		return "", errWebhookHeaders
	case !printableASCII(id, maxWebhookIDLen):
		return "", errWebhookID
	case len(sig) > maxWebhookSignatureLen:
		return "", errWebhookSigLong
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", errWebhookTimestamp
	}
	tol := int64(EventTolerance / time.Second)
	switch n := now.Unix(); {
	case sec < n-tol:
		return "", errWebhookTooOld
	case sec > n+tol:
		return "", errWebhookTooNew
	}
	return id, nil
}

// verify checks body and the Standard Webhooks headers h against every
// secret and returns the webhook-id, the idempotency key of the delivery.
// The headers are checked as by checkHeaders. The HMAC compare is the
// library's (hmac.Equal, constant time).
func (v *eventVerifier) verify(body []byte, h http.Header, now time.Time) (string, error) {
	id, err := v.checkHeaders(h, now)
	if err != nil {
		return "", err
	}
	for _, wh := range v.hooks {
		if wh.VerifyIgnoringTimestamp(body, h) == nil {
			return id, nil
		}
	}
	return "", errWebhookSignature
}
