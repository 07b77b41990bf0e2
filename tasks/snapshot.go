package tasks

import (
	"errors"
	"time"
)

// Sources of an unread count.
const (
	SourceAPI      = "api"      // get_c2c_unread_msg_num
	SourceCallback = "callback" // a callback's UnreadMsgNum
)

// ErrNoSnapshot is returned for a user chatsync has never seen.
var ErrNoSnapshot = errors.New("no unread snapshot")

// Snapshot is the last known unread state of one user.
type Snapshot struct {
	Account     string               `json:"account"`
	Total       int                  `json:"total"`
	TotalKnown  bool                 `json:"total_known"`
	TotalAt     time.Time            `json:"total_at,omitzero"` // when Total was measured
	TotalSource string               `json:"total_source,omitempty"`
	Peers       map[string]PeerCount `json:"peers"`
}

// PeerCount is the unread count of one conversation.
type PeerCount struct {
	Count  int       `json:"count"`
	At     time.Time `json:"at"` // when it was measured
	Source string    `json:"source"`
}
