package emulator

import (
	"math/rand/v2"
	"testing"
)

// TestUnreadCountersMatchRecount applies random sends, reads and recalls and checks the
// incremental unread counters against a count from scratch.
func TestUnreadCountersMatchRecount(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	s := newState()
	ids := []string{"a", "b", "c", "d"}
	for _, id := range ids {
		s.importAccount(id, "", "")
	}
	var sent []*message
	for step := range 5000 {
		from, to := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
		switch op := rng.IntN(10); {
		case op < 6:
			m := &message{from: from, to: to, seq: rng.Uint32(), time: int64(rng.IntN(200)), noUnread: rng.IntN(5) == 0}
			s.deliver(m)
			sent = append(sent, m)
		case op < 9:
			s.setRead(s.users[to], from, int64(rng.IntN(200)))
		case len(sent) > 0:
			if m := sent[rng.IntN(len(sent))]; !m.withdrawn {
				s.withdraw(m)
			}
		}
		for _, id := range ids {
			u := s.users[id]
			total := 0
			for _, ib := range u.inbox {
				n := 0
				for _, m := range ib.msgs {
					if m.counts(ib.watermark) {
						n++
					}
				}
				if n != ib.unread {
					t.Fatalf("step %d: inbox unread %d, recount %d", step, ib.unread, n)
				}
				total += n
			}
			if total != u.unread {
				t.Fatalf("step %d: %s total %d, recount %d", step, id, u.unread, total)
			}
		}
	}
}
