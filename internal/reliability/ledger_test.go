package reliability

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

func TestEffectOf(t *testing.T) {
	tests := []struct {
		name   string
		api    string
		body   string
		want   Effect
		wantOK bool
	}{
		{"set read, string time", chatapi.APISetMsgRead,
			`{"Report_Account":"a","Peer_Account":"b","MsgReadTime":"1700000000"}`,
			SetReadEffect("a", "b", 1700000000), true},
		{"set read, number time", chatapi.APISetMsgRead,
			`{"Report_Account":"a","Peer_Account":"b","MsgReadTime":1700000000}`,
			SetReadEffect("a", "b", 1700000000), true},
		{"set read, no time", chatapi.APISetMsgRead,
			`{"Report_Account":"a","Peer_Account":"b"}`, SetReadEffect("a", "b", 0), true},
		{"set read, empty time", chatapi.APISetMsgRead,
			`{"Report_Account":"a","Peer_Account":"b","MsgReadTime":""}`, SetReadEffect("a", "b", 0), true},
		{"set read, bad time", chatapi.APISetMsgRead,
			`{"Report_Account":"a","Peer_Account":"b","MsgReadTime":"soon"}`, Effect{}, false},
		{"receipt, keys in any order", chatapi.APIReadReceipt,
			`{"Operator_Account":"a","Peer_Account":"b","C2CMsgInfo":[` +
				`{"From_Account":"b","To_Account":"a","MsgKey":"2_2_2"},{"From_Account":"b","To_Account":"a","MsgKey":"1_1_1"}]}`,
			ReadReceiptEffect("a", "b", []string{"1_1_1", "2_2_2"}), true},
		{"not JSON", chatapi.APIReadReceipt, `"garbage"`, Effect{}, false},
		{"untracked API", chatapi.APIUnread, `{"To_Account":"a"}`, Effect{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := EffectOf(tt.api, json.RawMessage(tt.body))
			if ok != tt.wantOK {
				t.Fatalf("EffectOf ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("EffectOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLedgerCheck(t *testing.T) {
	setRead := func(account string, rt string, code, status int) emulator.Request {
		return emulator.Request{API: chatapi.APISetMsgRead, ErrorCode: code, HTTPStatus: status,
			Body: json.RawMessage(`{"Report_Account":"` + account + `","Peer_Account":"p","MsgReadTime":"` + rt + `"}`)}
	}
	receipt := emulator.Request{API: chatapi.APIReadReceipt, HTTPStatus: 200,
		Body: json.RawMessage(`{"Operator_Account":"a","Peer_Account":"p","C2CMsgInfo":[{"MsgKey":"k1"}]}`)}
	unread := emulator.Request{API: chatapi.APIUnread, HTTPStatus: 200, Body: json.RawMessage(`{"To_Account":"a"}`)}

	l := NewLedger()
	l.Expect(SetReadEffect("a", "p", 10), ReadReceiptEffect("a", "p", []string{"k1"}))
	l.Expect(SetReadEffect("b", "p", 10))
	l.Expect(SetReadEffect("c", "p", 10))
	l.Expect(SetReadEffect("c", "p", 10)) // the same read point twice: one call does
	l.Expect()                            // an input with no tracked effect
	l.Expect(SetReadEffect("e", "p", 5))  // coalesced: one call at 9 applies both
	l.Expect(SetReadEffect("e", "p", 9), ReadReceiptEffect("e", "p", []string{"k2"}))
	l.Expect(ReadReceiptEffect("e", "p", []string{"k3", "k4"}))

	got := l.Check([]emulator.Request{
		setRead("a", "10", 20004, 200), // failed, then
		setRead("a", "10", 0, 200),     // succeeded
		setRead("a", "10", 0, 200),     // a duplicate
		receipt,
		setRead("b", "10", 0, 502), // b: only a gateway error: lost
		setRead("c", "10", 0, 200), // c: one of two: one lost
		setRead("d", "10", 0, 200), // nobody asked for d
		setRead("a", "10", 0, 499), // a client gone away
		unread,                     // not tracked
		setRead("e", "9", 0, 200),
		{API: chatapi.APIReadReceipt, HTTPStatus: 200, // two inputs' MsgKeys in one batch; k4 missing
			Body: json.RawMessage(`{"Operator_Account":"e","Peer_Account":"p","C2CMsgInfo":[{"MsgKey":"k2"},{"MsgKey":"k3"}]}`)},
	})
	want := Result{
		Inputs:     8,
		Expected:   9,
		Satisfied:  7,
		Lost:       map[Effect]int{SetReadEffect("b", "p", 10): 1, ReadReceiptEffect("e", "p", []string{"k3", "k4"}): 1},
		Duplicates: 1,
		Unexpected: 1,
		Attempts:   10,
		Failures:   map[string]int{"20004": 1, "http 502": 1, "http 499": 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
	if got.Complete() || got.LostCount() != 2 {
		t.Errorf("Complete() = %v, LostCount() = %d; want false, 2", got.Complete(), got.LostCount())
	}
	if l.Len() != 9 || l.Inputs() != 8 {
		t.Errorf("Len() = %d, Inputs() = %d; want 9, 8", l.Len(), l.Inputs())
	}
}
