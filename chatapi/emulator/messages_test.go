package emulator_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSendMsg(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("jared", "Jonh")
	got := h.ok("openim/sendmsg", `{"From_Account":"jared","To_Account":"Jonh","MsgSeq":48374,"MsgRandom":2837546,
		"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}],"CloudCustomData":"your cloud custom data"}`)
	want := decode(t, fmt.Sprintf(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"MsgTime":%d,"MsgKey":"48374_2837546_%[1]d"}`, t0.Unix()))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sendmsg answer (-want +got):\n%s", diff)
	}

	// Without From_Account the admin sends; without MsgSeq one is made up.
	key := h.ok("openim/sendmsg", `{"To_Account":"Jonh","MsgRandom":1,"MsgBody":[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"x"}}]}`)["MsgKey"].(string)
	if !strings.HasSuffix(key, fmt.Sprintf("_1_%d", t0.Unix())) || strings.HasPrefix(key, "0_") {
		t.Errorf("MsgKey without MsgSeq = %s", key)
	}
	_, peers := h.emu.Unread("Jonh")
	if diff := cmp.Diff(map[string]int{"jared": 1, testAdmin: 1}, peers); diff != "" {
		t.Errorf("Jonh unread per peer (-want +got):\n%s", diff)
	}
}

func TestSendMsgErrors(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b")
	const body = `"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]`
	big := strings.Repeat("x", 13<<10)
	tests := []struct {
		name, body string
		want       int
	}{
		{"ok", `{"From_Account":"a","To_Account":"b","MsgRandom":1,` + body + `}`, 0},
		{"To missing", `{"From_Account":"a","MsgRandom":1,` + body + `}`, 90003},
		{"To not a string", `{"To_Account":["b"],"MsgRandom":1,` + body + `}`, 90003},
		{"To not imported", `{"To_Account":"ghost","MsgRandom":1,` + body + `}`, 90012},
		{"From not imported", `{"From_Account":"ghost","To_Account":"b","MsgRandom":1,` + body + `}`, 90008},
		{"From not a string", `{"From_Account":1,"To_Account":"b","MsgRandom":1,` + body + `}`, 90008},
		{"MsgRandom missing", `{"To_Account":"b",` + body + `}`, 90005},
		{"MsgRandom string", `{"To_Account":"b","MsgRandom":"1",` + body + `}`, 90005},
		{"MsgRandom over 32 bits", `{"To_Account":"b","MsgRandom":4294967296,` + body + `}`, 90005},
		{"MsgSeq string", `{"To_Account":"b","MsgRandom":1,"MsgSeq":"7",` + body + `}`, 90001},
		{"MsgBody missing", `{"To_Account":"b","MsgRandom":1}`, 90007},
		{"MsgBody object", `{"To_Account":"b","MsgRandom":1,"MsgBody":{"MsgType":"TIMTextElem"}}`, 90007},
		{"MsgBody empty", `{"To_Account":"b","MsgRandom":1,"MsgBody":[]}`, 90002},
		{"MsgType unknown", `{"To_Account":"b","MsgRandom":1,"MsgBody":[{"MsgType":"Text","MsgContent":{"Text":"hi"}}]}`, 90002},
		{"Text missing", `{"To_Account":"b","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{}}]}`, 90002},
		{"MsgBody too long", `{"To_Account":"b","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"` + big + `"}}]}`, 93000},
		{"MsgLifeTime string", `{"To_Account":"b","MsgRandom":1,"MsgLifeTime":"60",` + body + `}`, 90044},
		{"MsgLifeTime over 7 days", `{"To_Account":"b","MsgRandom":1,"MsgLifeTime":604801,` + body + `}`, 90026},
		{"MsgLifeTime 7 days", `{"To_Account":"b","MsgRandom":1,"MsgLifeTime":604800,` + body + `}`, 0},
		{"SyncOtherMachine string", `{"To_Account":"b","MsgRandom":1,"SyncOtherMachine":"1",` + body + `}`, 90031},
		{"SendMsgControl string", `{"To_Account":"b","MsgRandom":1,"SendMsgControl":"NoUnread",` + body + `}`, 90001},
		{"CloudCustomData object", `{"To_Account":"b","MsgRandom":1,"CloudCustomData":{},` + body + `}`, 90001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.code("openim/sendmsg", tt.body); got != tt.want {
				t.Errorf("ErrorCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSendMsgDedup(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b", "c")
	msg := func(to, text string) string {
		return fmt.Sprintf(`{"From_Account":"a","To_Account":%q,"MsgSeq":7,"MsgRandom":9,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":%q}}]}`, to, text)
	}
	first := h.ok("openim/sendmsg", msg("b", "hi"))
	h.clock.Advance(119 * time.Second)
	again := h.ok("openim/sendmsg", msg("b", "hi"))
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("retry within 120 s got a new message (-first +retry):\n%s", diff)
	}
	if n, _ := h.emu.Unread("b"); n != 1 {
		t.Errorf("b unread after a retry = %d, want 1", n)
	}
	h.ok("openim/sendmsg", msg("b", "other text"))
	h.ok("openim/sendmsg", msg("c", "hi"))
	if n, _ := h.emu.Unread("b"); n != 2 {
		t.Errorf("b unread after another body = %d, want 2", n)
	}
	h.clock.Advance(time.Second)
	late := h.ok("openim/sendmsg", msg("b", "hi"))
	if late["MsgKey"] == first["MsgKey"] {
		t.Errorf("a resend after 120 s was de-duplicated: %v", late["MsgKey"])
	}
	if n, _ := h.emu.Unread("b"); n != 3 {
		t.Errorf("b unread after 120 s = %d, want 3", n)
	}
}

func TestGetRoamMsg(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b", "c")
	var keys []string
	for i := range 5 {
		from, to := "a", "b"
		if i%2 == 1 {
			from, to = "b", "a"
		}
		keys = append(keys, h.send(from, to, i, fmt.Sprintf(`,"MsgSeq":%d`, 100+i)))
		h.send("c", "a", 50+i, "") // another conversation
		h.clock.Advance(time.Second)
	}
	h.ok("openim/admin_msgwithdraw", fmt.Sprintf(`{"From_Account":"a","To_Account":"b","MsgKey":%q}`, keys[2]))

	page := func(maxTime int64, lastKey string) map[string]any {
		return h.ok("openim/admin_getroammsg", fmt.Sprintf(
			`{"Operator_Account":"a","Peer_Account":"b","MaxCnt":2,"MinTime":%d,"MaxTime":%d,"LastMsgKey":%q}`, t0.Unix(), maxTime, lastKey))
	}
	var got []string
	var flags []float64
	maxTime, lastKey := t0.Unix()+100, ""
	for range 10 {
		p := page(maxTime, lastKey)
		for _, it := range p["MsgList"].([]any) {
			m := it.(map[string]any)
			got = append(got, m["MsgKey"].(string))
			flags = append(flags, m["MsgFlagBits"].(float64))
		}
		if p["Complete"] == 1.0 {
			break
		}
		maxTime, lastKey = int64(p["LastMsgTime"].(float64)), p["LastMsgKey"].(string)
	}
	want := []string{keys[4], keys[3], keys[2], keys[1], keys[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history, newest first (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{0, 0, 8, 0, 0}, flags); diff != "" {
		t.Errorf("MsgFlagBits (-want +got):\n%s", diff)
	}

	first := h.ok("openim/admin_getroammsg", fmt.Sprintf(
		`{"Operator_Account":"b","Peer_Account":"a","MaxCnt":1,"MinTime":%d,"MaxTime":%d}`, t0.Unix(), t0.Unix()))
	wantFirst := decode(t, fmt.Sprintf(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"Complete":1,"MsgCnt":1,
		"LastMsgTime":%d,"LastMsgKey":%q,"MsgList":[{"From_Account":"a","To_Account":"b","MsgSeq":100,"MsgRandom":0,
		"MsgTimeStamp":%[1]d,"MsgFlagBits":0,"IsPeerRead":0,"MsgKey":%[2]q,
		"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}],"CloudCustomData":""}]}`, t0.Unix(), keys[0]))
	if diff := cmp.Diff(wantFirst, first); diff != "" {
		t.Errorf("one-message page (-want +got):\n%s", diff)
	}

	for _, tt := range []struct{ body string }{
		{`{"Operator_Account":"a","Peer_Account":"b","MaxCnt":0,"MinTime":0,"MaxTime":1}`},
		{`{"Operator_Account":"a","Peer_Account":"b","MaxCnt":1,"MinTime":2,"MaxTime":1}`},
		{`{"Operator_Account":"a","Peer_Account":"b","MaxCnt":1,"MinTime":0}`},
	} {
		if code := h.code("openim/admin_getroammsg", tt.body); code != 90001 {
			t.Errorf("%s: ErrorCode %d, want 90001", tt.body, code)
		}
	}
	if code := h.code("openim/admin_getroammsg", `{"Operator_Account":"ghost","Peer_Account":"b","MaxCnt":1,"MinTime":0,"MaxTime":1}`); code != 90008 {
		t.Errorf("unknown operator: ErrorCode %d, want 90008", code)
	}
	if code := h.code("openim/admin_getroammsg", `{"Operator_Account":"a","Peer_Account":"ghost","MaxCnt":1,"MinTime":0,"MaxTime":1}`); code != 90003 {
		t.Errorf("unknown peer: ErrorCode %d, want 90003", code)
	}
}

func TestMsgWithdraw(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b")
	key := h.send("a", "b", 1, "")
	h.send("a", "b", 2, "")
	body := fmt.Sprintf(`{"From_Account":"a","To_Account":"b","MsgKey":%q}`, key)
	h.ok("openim/admin_msgwithdraw", body)
	if n, _ := h.emu.Unread("b"); n != 1 {
		t.Errorf("b unread after a recall = %d, want 1", n)
	}
	tests := []struct {
		name, body string
		want       int
	}{
		{"again", body, 20023},
		{"unknown key", `{"From_Account":"a","To_Account":"b","MsgKey":"1_2_3"}`, 20022},
		{"wrong direction", fmt.Sprintf(`{"From_Account":"b","To_Account":"a","MsgKey":%q}`, key), 20022},
		{"no key", `{"From_Account":"a","To_Account":"b"}`, 90054},
		{"From unknown", fmt.Sprintf(`{"From_Account":"ghost","To_Account":"b","MsgKey":%q}`, key), 90008},
		{"To unknown", fmt.Sprintf(`{"From_Account":"a","To_Account":"ghost","MsgKey":%q}`, key), 90003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.code("openim/admin_msgwithdraw", tt.body); got != tt.want {
				t.Errorf("ErrorCode = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestGetRoamMsgPageSize checks the ≈13 KB page cap and the older From_Account/To_Account form.
func TestGetRoamMsgPageSize(t *testing.T) {
	h := setup(t, nil)
	h.emu.ImportAccounts("a", "b")
	text := strings.Repeat("x", 6<<10)
	for i := range 3 {
		h.ok("openim/sendmsg", fmt.Sprintf(`{"From_Account":"a","To_Account":"b","MsgRandom":%d,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":%q}}]}`, i, text))
	}
	p := h.ok("openim/admin_getroammsg", `{"From_Account":"b","To_Account":"a","MaxCnt":10,"MinTime":0,"MaxTime":1999999999}`)
	if p["MsgCnt"] != 2.0 || p["Complete"] != 0.0 {
		t.Errorf("MsgCnt %v Complete %v, want 2 and 0", p["MsgCnt"], p["Complete"])
	}
}
