package reliability

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"

	"github.com/chatsync/chatsync/tasks"
)

// Secrets are one deployment's credentials, random for every harness so
// that the log scan can tell them from anything else, and the marker every
// message body sent holds.
type Secrets struct {
	SDKAppID           uint64
	SecretKey          string // CHAT_SECRET_KEY
	CallbackToken      string // CHAT_CALLBACK_TOKEN
	EventsSecret       string // EVENTS_SECRET, whsec_<base64>
	APIKey             string // API_KEY
	MonitoringUser     string
	MonitoringPassword string
	RedisPassword      string
	// BodyMarker is part of every message text the suite sends; no log
	// may contain it.
	BodyMarker string
}

// NewSecrets returns fresh random secrets.
func NewSecrets() Secrets {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return Secrets{
		SDKAppID:           1400000000 + uint64(randInt(99999)),
		SecretKey:          randHex(32),
		CallbackToken:      "cbtok" + randHex(12),
		EventsSecret:       "whsec_" + base64.StdEncoding.EncodeToString(key),
		APIKey:             "apikey" + randHex(16),
		MonitoringUser:     "ops",
		MonitoringPassword: "monpw" + randHex(12),
		RedisPassword:      "redispw" + randHex(12),
		BodyMarker:         "bodymark" + randHex(8),
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randInt(n int) int {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])) % n
}

// AddTo makes sc look for every secret, in every form a careless log
// could print it: the events secret whole, as its base64 body and as the
// hex of its key.
func (s Secrets) AddTo(sc *Scanner) {
	sc.AddLiteral("CHAT_SECRET_KEY", s.SecretKey)
	sc.AddLiteral("CHAT_CALLBACK_TOKEN", s.CallbackToken)
	if key, err := tasks.ParseWebhookSecret(s.EventsSecret); err == nil {
		sc.AddLiteral("EVENTS_SECRET", base64.StdEncoding.EncodeToString(key))
		sc.AddLiteral("EVENTS_SECRET key in hex", hex.EncodeToString(key))
	}
	sc.AddLiteral("API_KEY", s.APIKey)
	sc.AddLiteral("MONITORING_PASSWORD", s.MonitoringPassword)
	sc.AddLiteral("the Redis password", s.RedisPassword)
	sc.AddLiteral("a message body", s.BodyMarker)
}
