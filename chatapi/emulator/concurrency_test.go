package emulator_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// TestConcurrentUse drives every API and helper at once; run it with -race.
func TestConcurrentUse(t *testing.T) {
	rcv := newReceiver(t)
	h := setup(t, func(c *emulator.Config) {
		c.CallbackURL = rcv.srv.URL
		c.Now = time.Now
		c.KeepRequests = 50
	})
	const workers, rounds = 8, 25
	users := make([]string, workers)
	for i := range users {
		users[i] = fmt.Sprint("u", i)
	}
	h.emu.ImportAccounts(users...)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			me, peer := users[w], users[(w+1)%workers]
			for r := range rounds {
				h.send(me, peer, w*1000+r, "")
				h.ok("openim/get_c2c_unread_msg_num", fmt.Sprintf(`{"To_Account":%q,"Peer_Account":[%q]}`, me, users[(w+workers-1)%workers]))
				h.emu.Unread(peer)
				h.emu.Stats()
				h.emu.Requests("openim/sendmsg")
				if r%5 == 0 {
					h.emu.SetFault("openim/account_check", emulator.Fault{Count: 1})
					h.emu.SetRateLimit(-1)
				}
			}
		})
	}
	wg.Wait()
	waitCallbacks(t, h)
	for _, u := range users {
		if total, _ := h.emu.Unread(u); total != rounds {
			t.Errorf("%s unread = %d, want %d", u, total, rounds)
		}
	}
	if got := h.emu.Stats().Callbacks[chatapi.CommandAfterSendMsg]; got.Sent != workers*rounds || got.Failed != 0 {
		t.Errorf("AfterSendMsg stats = %+v", got)
	}
}
