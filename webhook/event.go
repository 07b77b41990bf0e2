package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// App event types accepted on POST /v1/events.
const (
	EventConversationRead = "conversation.read" // → set-read
	EventMessagesRead     = "messages.read"     // → read-receipt
	EventUnreadRefresh    = "unread.refresh"    // → unread
)

// Limits on one app event.
const (
	MaxEventMsgKeys = 100 // msg_keys per messages.read
	MaxEventPeers   = 100 // peers per unread.refresh
	MaxMsgKeyLen    = 128 // bytes; Chat's MsgKeys are about 30
	// maxReadTimeAhead is how far read_time may be in the future: more is
	// most likely milliseconds given for seconds.
	maxReadTimeAhead = 24 * time.Hour
)

// Event is one app event. POST /v1/events takes one event object or
// {"events":[…]} with at most MaxEvents of them; unknown fields, and fields
// of another type, are rejected.
//
//	{"type":"conversation.read","account":"a","peer":"b","read_time":1700000000}
//	{"type":"messages.read","account":"a","peer":"b","msg_keys":["1_2_3"]}
//	{"type":"unread.refresh","account":"a","peers":["b"]}
type Event struct {
	Type     string   `json:"type"`
	Account  string   `json:"account"`             // the user who reads, or whose counts change
	Peer     string   `json:"peer,omitempty"`      // conversation.read, messages.read
	ReadTime int64    `json:"read_time,omitempty"` // conversation.read; unix seconds, 0 = when accepted
	MsgKeys  []string `json:"msg_keys,omitempty"`  // messages.read; messages Peer sent to Account
	Peers    []string `json:"peers,omitempty"`     // unread.refresh; none = refresh the total
}

// eventFields lists each type's fields; the first ones up to required are
// required.
var eventFields = map[string]struct {
	fields   []string
	required int
}{
	EventConversationRead: {[]string{"type", "account", "peer", "read_time"}, 3},
	EventMessagesRead:     {[]string{"type", "account", "peer", "msg_keys"}, 4},
	EventUnreadRefresh:    {[]string{"type", "account", "peers"}, 2},
}

// member is one key and raw value of a JSON object, in order.
type member struct {
	key   string
	value json.RawMessage
}

// decodeEvents decodes and validates the body of POST /v1/events. err is a
// problem with the body as a whole (not JSON, too many events); otherwise
// problems lists every bad field of every event, and events is valid only
// when problems is empty.
func decodeEvents(body []byte, now time.Time) (events []Event, problems []FieldError, err error) {
	if err := checkJSON(body); err != nil {
		return nil, nil, err
	}
	top, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	if !hasKey(top, "events") {
		ev, p := decodeEvent(0, top, now)
		return []Event{ev}, p, nil
	}
	raws, err := batch(top)
	if err != nil {
		return nil, nil, err
	}
	events = make([]Event, len(raws))
	for i, raw := range raws {
		obj, err := decodeObject(raw)
		if err != nil {
			problems = append(problems, FieldError{Index: i, Field: "event", Message: "is not a JSON object"})
			continue
		}
		var p []FieldError
		events[i], p = decodeEvent(i, obj, now)
		problems = append(problems, p...)
	}
	return events, problems, nil
}

// batch returns the raw events of {"events":[…]}.
func batch(top []member) ([]json.RawMessage, error) {
	if len(top) != 1 {
		return nil, errors.New(`a batch has only the field "events"`)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(top[0].value, &raws); err != nil {
		return nil, errors.New("events is not an array")
	}
	switch {
	case len(raws) == 0:
		return nil, errors.New("events is empty")
	case len(raws) > MaxEvents:
		return nil, fmt.Errorf("events has %d entries, more than %d", len(raws), MaxEvents)
	}
	return raws, nil
}

func hasKey(obj []member, key string) bool {
	for _, m := range obj {
		if m.key == key {
			return true
		}
	}
	return false
}

// decodeObject splits a JSON object into its members, in order, keeping
// duplicates. Anything else, or trailing data, is an error.
func decodeObject(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("body is not a JSON object")
	}
	var obj []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		key, _ := t.(string) // Token only returns a string here
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		obj = append(obj, member{key, bytes.TrimSpace(raw)})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("malformed JSON: data after the object")
	}
	return obj, nil
}

// decodeEvent decodes one event object and reports every bad field.
func decodeEvent(index int, obj []member, now time.Time) (Event, []FieldError) {
	var ev Event
	var problems []FieldError
	bad := func(field, format string, args ...any) {
		problems = append(problems, FieldError{Index: index, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	seen := make(map[string]bool, len(obj))
	for _, m := range obj {
		if seen[m.key] {
			bad(shortKey(m.key), "is given twice")
			continue
		}
		seen[m.key] = true
		if msg := decodeField(&ev, m); msg != "" {
			bad(shortKey(m.key), "%s", msg)
		}
	}

	spec, known := eventFields[ev.Type]
	switch {
	case !seen["type"]:
		bad("type", "is missing")
	case !known && isString(obj, "type"): // else decodeField said so
		bad("type", "is not one of %s, %s, %s", EventConversationRead, EventMessagesRead, EventUnreadRefresh)
	}
	if known {
		for i, f := range spec.fields {
			if i < spec.required && !seen[f] {
				bad(f, "is missing")
			}
		}
		for _, m := range obj {
			if isEventField(m.key) && !contains(spec.fields, m.key) {
				bad(m.key, "is not a field of %s", ev.Type)
			}
		}
	}
	if len(problems) == 0 {
		checkEvent(ev, now, bad)
	}
	if len(problems) == 0 {
		if err := ev.validate(); err != nil {
			// The payload's own rules, should they ever be stricter than
			// the checks above. Its errors read "<field> <problem>".
			field, msg, _ := strings.Cut(err.Error(), " ")
			bad(field, "%s", msg)
		}
	}
	return ev, problems
}

// decodeField decodes one member into ev and returns what is wrong with
// it, or "".
func decodeField(ev *Event, m member) string {
	kind := m.value[0]
	switch m.key {
	case "type", "account", "peer":
		if kind != '"' {
			return "is not a string"
		}
		dst := &ev.Type
		switch m.key {
		case "account":
			dst = &ev.Account
		case "peer":
			dst = &ev.Peer
		}
		if json.Unmarshal(m.value, dst) != nil {
			return "is not a string"
		}
	case "read_time":
		if kind != '-' && (kind < '0' || kind > '9') || json.Unmarshal(m.value, &ev.ReadTime) != nil {
			return "is not an integer (unix seconds)"
		}
	case "msg_keys", "peers":
		dst := &ev.MsgKeys
		if m.key == "peers" {
			dst = &ev.Peers
		}
		if kind != '[' || json.Unmarshal(m.value, dst) != nil || containsNull(m.value) {
			return "is not an array of strings"
		}
		if len(*dst) == 0 {
			*dst = nil // [] and absent mean the same
		}
	default:
		return "is unknown"
	}
	return ""
}

// containsNull reports whether a raw array has a null element, which
// encoding/json would decode as "".
func containsNull(raw json.RawMessage) bool {
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return true
	}
	for _, e := range elems {
		if string(e) == "null" {
			return true
		}
	}
	return false
}

// checkEvent checks the values of a well-formed event.
func checkEvent(ev Event, now time.Time, bad func(field, format string, args ...any)) {
	checkUserID("account", ev.Account, bad)
	switch ev.Type {
	case EventConversationRead:
		checkUserID("peer", ev.Peer, bad)
		switch {
		case ev.ReadTime < 0:
			bad("read_time", "is negative")
		case ev.ReadTime > now.Add(maxReadTimeAhead).Unix():
			bad("read_time", "is more than a day in the future (unix seconds, not milliseconds)")
		}
	case EventMessagesRead:
		checkUserID("peer", ev.Peer, bad)
		if len(ev.MsgKeys) == 0 {
			bad("msg_keys", "is empty")
		} else if len(ev.MsgKeys) > MaxEventMsgKeys {
			bad("msg_keys", "has %d entries, more than %d", len(ev.MsgKeys), MaxEventMsgKeys)
		}
		for i, k := range ev.MsgKeys {
			switch {
			case k == "":
				bad(fmt.Sprintf("msg_keys[%d]", i), "is empty")
			case len(k) > MaxMsgKeyLen:
				bad(fmt.Sprintf("msg_keys[%d]", i), "is longer than %d bytes", MaxMsgKeyLen)
			}
		}
	case EventUnreadRefresh:
		if len(ev.Peers) > MaxEventPeers {
			bad("peers", "has %d entries, more than %d", len(ev.Peers), MaxEventPeers)
		}
		for i, p := range ev.Peers {
			checkUserID(fmt.Sprintf("peers[%d]", i), p, bad)
		}
	}
}

func checkUserID(field, id string, bad func(field, format string, args ...any)) {
	switch {
	case id == "":
		bad(field, "is empty")
	case len(id) > chatapi.MaxUserIDLen:
		bad(field, "is longer than %d bytes", chatapi.MaxUserIDLen)
	}
}

// source is the Source of the task an event makes.
func (ev Event) source() string { return "event:" + ev.Type }

// Payloads of the tasks an event makes.
func (ev Event) setRead() tasks.SetRead {
	return tasks.SetRead{Account: ev.Account, Peer: ev.Peer, ReadTime: ev.ReadTime, Source: ev.source()}
}

func (ev Event) readReceipt() tasks.ReadReceipt {
	return tasks.ReadReceipt{Account: ev.Account, Peer: ev.Peer, MsgKeys: ev.MsgKeys, Source: ev.source()}
}

func (ev Event) unread() tasks.Unread {
	return tasks.Unread{Account: ev.Account, Peers: ev.Peers, RefreshTotal: len(ev.Peers) == 0, Source: ev.source()}
}

// validate runs the Validate method of the event's task payload.
func (ev Event) validate() error {
	switch ev.Type {
	case EventConversationRead:
		return ev.setRead().Validate()
	case EventMessagesRead:
		return ev.readReceipt().Validate()
	case EventUnreadRefresh:
		return ev.unread().Validate()
	}
	return fmt.Errorf("type is unknown")
}

func isEventField(key string) bool {
	switch key {
	case "type", "account", "peer", "read_time", "msg_keys", "peers":
		return true
	}
	return false
}

func isString(obj []member, key string) bool {
	for _, m := range obj {
		if m.key == key {
			return m.value[0] == '"'
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// shortKey is a key as a FieldError names it: bounded in length, and
// `""` for the empty key.
func shortKey(k string) string {
	switch {
	case k == "":
		return `""`
	case len(k) > 64:
		return strings.ToValidUTF8(k[:64], "") + "…"
	}
	return k
}
