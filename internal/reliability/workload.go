package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

// Event is an app event as POST /v1/events takes it.
type Event struct {
	Type     string   `json:"type"`
	Account  string   `json:"account"`
	Peer     string   `json:"peer,omitempty"`
	ReadTime int64    `json:"read_time,omitempty"`
	MsgKeys  []string `json:"msg_keys,omitempty"`
	Peers    []string `json:"peers,omitempty"`
}

// ConversationRead returns a conversation.read event.
func ConversationRead(account, peer string, readTime int64) Event {
	return Event{Type: "conversation.read", Account: account, Peer: peer, ReadTime: readTime}
}

// MessagesRead returns a messages.read event.
func MessagesRead(account, peer string, msgKeys ...string) Event {
	return Event{Type: "messages.read", Account: account, Peer: peer, MsgKeys: msgKeys}
}

// UnreadRefresh returns an unread.refresh event.
func UnreadRefresh(account string, peers ...string) Event {
	return Event{Type: "unread.refresh", Account: account, Peers: peers}
}

// Effects returns the Chat calls the event must cause once acknowledged:
// design.md's routing. unread.refresh has none the ledger tracks.
func (e Event) Effects() []Effect {
	switch e.Type {
	case "conversation.read":
		return []Effect{SetReadEffect(e.Account, e.Peer, e.ReadTime)}
	case "messages.read":
		return []Effect{ReadReceiptEffect(e.Account, e.Peer, e.MsgKeys)}
	}
	return nil
}

// EventsBody returns the body of POST /v1/events: the event itself for one
// event, {"events":[…]} for several.
func EventsBody(events ...Event) []byte {
	var v any = map[string][]Event{"events": events}
	if len(events) == 1 {
		v = events[0]
	}
	b, _ := json.Marshal(v) // an Event always marshals
	return b
}

// Message is a message the emulator stored, with what a callback about it
// carries.
type Message struct {
	From, To string
	Seq      uint32
	Random   uint32
	Time     int64 // MsgTime, unix seconds
	Key      string
	Text     string // holds the suite's body marker
}

// AfterSendMsgBody returns the C2C.CallbackAfterSendMsg body Chat sends
// for m (tencent-chat.md §5.3), with UnreadMsgNum when unread is not nil.
// Its text is both the message body and the CloudCustomData.
func AfterSendMsgBody(m Message, unread *int) []byte {
	msgBody, _ := json.Marshal([]chatapi.MsgElem{chatapi.TextElem(m.Text)}) // cannot fail
	body := chatapi.AfterSendMsg{
		CallbackCommand: chatapi.CommandAfterSendMsg,
		FromAccount:     m.From, ToAccount: m.To,
		MsgSeq: int64(m.Seq), MsgRandom: int64(m.Random), MsgTime: m.Time, MsgKey: m.Key,
		MsgID:         fmt.Sprintf("144115233406643804-%d-%d", m.Time, m.Random),
		SendMsgResult: 0, ErrorInfo: "send msg succeed",
		MsgBody:         msgBody,
		CloudCustomData: m.Text,
	}
	if unread != nil {
		n := int64(*unread)
		body.UnreadMsgNum = &n
	}
	b, _ := json.Marshal(body) // cannot fail
	return b
}

// AutoReadEffects returns the calls an acknowledged AfterSendMsg callback
// for m must cause when m.To is an auto-read account: set-read up to
// MsgTime and a read receipt for the message.
func AutoReadEffects(m Message) []Effect {
	return []Effect{SetReadEffect(m.To, m.From, m.Time), ReadReceiptEffect(m.To, m.From, []string{m.Key})}
}

// User returns the name of the i-th test user with prefix, e.g. "u007".
func User(prefix string, i int) string { return prefix + fmt.Sprintf("%03d", i) }

// idSeq makes unique webhook-ids within a test run.
func idSeq(prefix string, n int) string { return prefix + "_" + strconv.Itoa(n) }

// SendMessages has from send n text messages to to through the emulator's
// sendmsg (retrying its rate limit) and returns them. Their texts hold the
// body marker.
func (h *Harness) SendMessages(ctx context.Context, from, to string, n int) ([]Message, error) {
	msgs := make([]Message, 0, n)
	for range n {
		h.mu.Lock()
		h.sent++
		seq := uint32(h.sent)
		h.mu.Unlock()
		m := Message{From: from, To: to, Seq: seq, Random: rand.Uint32() | 1,
			Text: fmt.Sprintf("hello %d %s", seq, h.Secrets.BodyMarker)}
		req := chatapi.SendMsgRequest{FromAccount: from, ToAccount: to, MsgSeq: m.Seq, MsgRandom: m.Random,
			MsgBody: []chatapi.MsgElem{chatapi.TextElem(m.Text)}}
		var sent chatapi.SentMsg
		err := Poll(ctx, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
			var err error
			sent, err = h.Chat.SendMsg(ctx, req)
			return err == nil, err
		})
		if err != nil {
			return msgs, fmt.Errorf("sendmsg %s→%s: %w", from, to, err)
		}
		m.Time, m.Key = sent.MsgTime, sent.MsgKey
		msgs = append(msgs, m)
	}
	return msgs, nil
}
