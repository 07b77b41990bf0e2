package tasks

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/chatapi/emulator"
)

// BenchmarkOverloadSetRead is the first budget scenario, measured:
// 2,000 conversation.read events over 40 conversations posted within about
// a second (rising read_time), through the Intake, against the emulator at
// Chat's 200 calls/s with one worker server (concurrency 20). It reports
// the set-read calls made and the time from the last event until every
// conversation's latest read point was applied. Run it with
//
//	./scripts/test.sh -run '^$' -bench Overload -benchtime 1x ./tasks
func BenchmarkOverloadSetRead(b *testing.B) {
	const convs, perConv = 40, 50
	for range b.N {
		e := setup(b, emulator.Config{KeepRequests: 20000})
		var users []string
		for i := range convs {
			users = append(users, fmt.Sprintf("r%d", i), fmt.Sprintf("w%d", i))
		}
		e.emu.ImportAccounts(users...)
		in := e.intake(b)
		e.serve(b, e.worker(b, Config{}), 20)
		base := time.Now().Unix() - 10_000
		start := time.Now()
		var wg sync.WaitGroup
		for c := range convs {
			wg.Go(func() {
				for i := range perConv {
					// 2,000 events/s in all: one per 20 ms per conversation.
					time.Sleep(time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond)))
					x := readInput(fmt.Sprintf("b-%d-%d", c, i), fmt.Sprintf("r%d", c), fmt.Sprintf("w%d", c), base+int64(i))
					if _, err := in.Accept(context.Background(), x); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		last := time.Now()
		waitFor(b, 60*time.Second, "every latest read point applied", func() bool {
			got := setReadBodies(b, e.emu)
			for c := range convs {
				pts := got[fmt.Sprintf("r%d/w%d", c, c)]
				if len(pts) == 0 || pts[len(pts)-1] != base+perConv-1 {
					return false
				}
			}
			return true
		})
		applied := time.Since(last)
		st := e.emu.Stats().APIs[chatapi.APISetMsgRead]
		b.ReportMetric(float64(st.Calls), "calls")
		b.ReportMetric(float64(st.ErrorCodes[60007]), "60007s")
		b.ReportMetric(last.Sub(start).Seconds(), "s-posting")
		b.ReportMetric(applied.Seconds(), "s-applied-after-last")
	}
}

// BenchmarkOverloadReceipts is the second scenario: 1,000 messages to one
// auto-read account from 10 senders, each receipted by its own input (as
// its AfterSendMsg callback does), posted at 1,000/s, against the emulator
// at 200 calls/s, with RECEIPT_BATCH_MAX 20. It reports the receipt calls
// and the time from the last input until every MsgKey was receipted.
func BenchmarkOverloadReceipts(b *testing.B) {
	const senders, perSender, batch = 10, 100, 20
	for range b.N {
		e := setup(b, emulator.Config{KeepRequests: 20000})
		var from []string
		for i := range senders {
			from = append(from, fmt.Sprint("s", i))
		}
		e.emu.ImportAccounts(append(from, "bot")...)
		e.emu.SetRateLimit(-1) // the messages' own sendmsg calls
		keys := sendMsgs(b, e.chat(b, nil), "bot", from, perSender)
		e.emu.SetRateLimit(emulator.DefaultRateLimit)
		in := e.intake(b)
		e.serve(b, e.worker(b, Config{ReceiptBatchMax: batch}), 20)
		start := time.Now()
		var wg sync.WaitGroup
		for _, f := range from {
			wg.Go(func() {
				for i, k := range keys[f] {
					time.Sleep(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond)))
					x := Input{ID: f + k, Account: "bot", Window: time.Minute,
						Receipt: &ReadReceipt{Account: "bot", Peer: f, MsgKeys: []string{k}}}
					if _, err := in.Accept(context.Background(), x); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		last := time.Now()
		waitFor(b, 60*time.Second, "every MsgKey receipted", func() bool {
			return len(receipted(b, e.emu.Requests(chatapi.APIReadReceipt))) == senders*perSender
		})
		st := e.emu.Stats().APIs[chatapi.APIReadReceipt]
		b.ReportMetric(float64(st.Calls), "calls")
		b.ReportMetric(float64(st.ErrorCodes[60007]), "60007s")
		b.ReportMetric(time.Since(last).Seconds(), "s-receipted-after-last")
	}
}
