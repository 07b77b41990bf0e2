package tasks

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Bounds of a Standard Webhooks key, decoded. The specification asks for
// 24 to 64 bytes; 16 bytes (128 bits) is the floor below which an HMAC key
// is weak.
const (
	MinWebhookKey = 16
	MaxWebhookKey = 64
)

var errWebhookSecret = errors.New("is not whsec_ followed by base64")

// ParseWebhookSecret returns the key of a Standard Webhooks secret (the
// app events' and the sink's): "whsec_" followed by the standard base64 of
// MinWebhookKey to MaxWebhookKey bytes. Its errors read as predicates
// ("is not whsec_ followed by base64", "is 5 bytes, fewer than 16") for
// the caller to put the secret's name in front of, and never hold any of
// the secret. The standard-webhooks library cannot be this check: it takes
// the prefix as optional and any length, even none.
func ParseWebhookSecret(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errWebhookSecret
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	switch {
	case err != nil:
		return nil, errWebhookSecret // err would quote a byte of the secret
	case len(key) < MinWebhookKey:
		return nil, fmt.Errorf("is %d bytes, fewer than %d", len(key), MinWebhookKey)
	case len(key) > MaxWebhookKey:
		return nil, fmt.Errorf("is %d bytes, more than %d", len(key), MaxWebhookKey)
	}
	return key, nil
}
