package reliability

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

// item is one request of a load: a batch of app events or one callback,
// and the effects it must cause once acknowledged.
type item struct {
	id      string // webhook-id of events
	command string // callback command; "" for events
	body    []byte
	effects []Effect
}

func eventsItem(id string, events ...Event) item {
	var effects []Effect
	for _, e := range events {
		effects = append(effects, e.Effects()...)
	}
	return item{id: id, body: EventsBody(events...), effects: effects}
}

func callbackItem(command string, body []byte, effects ...Effect) item {
	return item{command: command, body: body, effects: effects}
}

// post sends the item, signed now.
func (it item) post(ctx context.Context, s *Sender) Reply {
	if it.command != "" {
		return s.Callback(ctx, it.command, it.body)
	}
	return s.Events(ctx, it.id, it.body)
}

// acked reports whether r acknowledges the item.
func (it item) acked(r Reply) bool {
	if it.command != "" {
		return r.ChatOK()
	}
	return r.Accepted()
}

// outcome is what became of one post.
type outcome struct {
	item       item
	start, end time.Time
	reply      Reply
	acked      bool
}

// tally counts outcomes: acknowledged, answered with an error status, and
// left without an answer.
type tally struct{ acked, refused, noAnswer int }

func (t tally) String() string {
	return fmt.Sprintf("%d acknowledged, %d refused, %d without answer", t.acked, t.refused, t.noAnswer)
}

func count(outs []outcome) tally {
	var t tally
	for _, o := range outs {
		switch {
		case o.acked:
			t.acked++
		case o.reply.Err != nil:
			t.noAnswer++
		default:
			t.refused++
		}
	}
	return t
}

// post sends items with workers goroutines, at most rate items a second
// (0: as fast as they go), records every acknowledged item in l, and
// returns the outcomes.
func post(ctx context.Context, s *Sender, l *Ledger, items []item, workers int, rate float64) []outcome {
	feed := make(chan item)
	go func() {
		defer close(feed)
		var tick *time.Ticker
		if rate > 0 {
			tick = time.NewTicker(time.Duration(float64(time.Second) / rate))
			defer tick.Stop()
		}
		for _, it := range items {
			if tick != nil {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
			select {
			case feed <- it:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	var outs []outcome
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range feed {
				o := outcome{item: it, start: time.Now()}
				o.reply = it.post(ctx, s)
				o.end = time.Now()
				if o.acked = it.acked(o.reply); o.acked {
					l.Expect(it.effects...)
				}
				mu.Lock()
				outs = append(outs, o)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return outs
}

// mix describes a load: conversation.read and messages.read events, and
// AfterSendMsg callbacks to an auto-read bot and to readers.
type mix struct {
	readers, peers    int
	conversationReads int // conversation.read events
	receipts          int // messages.read events, one message each
	botMessages       int // AfterSendMsg callbacks to the bot
	readerMessages    int // AfterSendMsg callbacks from senders q… to readers (unread only)
	batch             int // events per POST (default 10)
}

const bot = "bot"

// accounts returns the accounts a mix uses, to import into the emulator.
func (m mix) accounts() []string {
	out := []string{bot}
	for i := range m.readers {
		out = append(out, User("r", i))
	}
	for i := range m.peers {
		out = append(out, User("p", i), User("q", i))
	}
	return out
}

// build sends the messages the load refers to through the emulator and
// returns the items, interleaved, and the conversations whose unread
// counts the AfterSendMsg callbacks to readers changed (reader → senders).
// Item ids start with prefix.
func (m mix) build(t *testing.T, h *Harness, prefix string) ([]item, map[string][]string) {
	t.Helper()
	ctx := context.Background()
	if m.batch == 0 {
		m.batch = 10
	}
	var reads, receipts, callbacks []item
	base := time.Now().Unix() - 100000
	var batch []Event
	flush := func(dst *[]item) {
		if len(batch) > 0 {
			*dst = append(*dst, eventsItem(idSeq(prefix, len(reads)+len(receipts)), batch...))
			batch = nil
		}
	}
	for k := range m.conversationReads {
		batch = append(batch, ConversationRead(User("r", k%m.readers), User("p", k%m.peers), base+int64(k)))
		if len(batch) == m.batch {
			flush(&reads)
		}
	}
	flush(&reads)
	for k := range m.receipts {
		r, p := User("r", k%m.readers), User("p", (k/m.readers)%m.peers)
		msgs, err := h.SendMessages(ctx, p, r, 1)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, MessagesRead(r, p, msgs[0].Key))
		if len(batch) == m.batch {
			flush(&receipts)
		}
	}
	flush(&receipts)
	for k := range m.botMessages {
		msgs, err := h.SendMessages(ctx, User("p", k%m.peers), bot, 1)
		if err != nil {
			t.Fatal(err)
		}
		callbacks = append(callbacks, callbackItem(chatapi.CommandAfterSendMsg, AfterSendMsgBody(msgs[0], nil), AutoReadEffects(msgs[0])...))
	}
	unread := map[string][]string{}
	for k := range m.readerMessages {
		r, q := User("r", k%m.readers), User("q", (k/m.readers)%m.peers)
		msgs, err := h.SendMessages(ctx, q, r, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(unread[r], q) {
			unread[r] = append(unread[r], q)
		}
		total, _ := h.Emulator.Unread(r)
		callbacks = append(callbacks, callbackItem(chatapi.CommandAfterSendMsg, AfterSendMsgBody(msgs[0], &total)))
	}
	return interleave(reads, receipts, callbacks), unread
}

// interleave takes one item from each list in turn.
func interleave(lists ...[]item) []item {
	var out []item
	for i := 0; ; i++ {
		added := false
		for _, l := range lists {
			if i < len(l) {
				out = append(out, l[i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// mustStatus fails t unless r has status want.
func mustStatus(t *testing.T, what string, r Reply, want int) {
	t.Helper()
	if r.Err != nil || r.Status != want {
		t.Errorf("%s: got %s, want status %d (%s)", what, r, want, http.StatusText(want))
	}
}

// stream posts gen(0), gen(1), … with workers goroutines, at most rate a
// second (0: unpaced), until stop is called, recording acknowledged items
// in l. Progress can be watched while it runs.
type stream struct {
	mu     sync.Mutex
	outs   []outcome
	cancel context.CancelFunc
	done   chan struct{}
}

func startStream(s *Sender, l *Ledger, gen func(i int) item, workers int, rate float64) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{cancel: cancel, done: make(chan struct{})}
	next := make(chan int)
	go func() {
		defer close(next)
		var tick <-chan time.Time
		if rate > 0 {
			t := time.NewTicker(time.Duration(float64(time.Second) / rate))
			defer t.Stop()
			tick = t.C
		}
		for i := 0; ; i++ {
			if tick != nil {
				select {
				case <-tick:
				case <-ctx.Done():
					return
				}
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				it := gen(i)
				o := outcome{item: it, start: time.Now()}
				// Requests in flight when stop is called finish: only the
				// feed stops.
				o.reply = it.post(context.Background(), s)
				o.end = time.Now()
				if o.acked = it.acked(o.reply); o.acked {
					l.Expect(it.effects...)
				}
				st.mu.Lock()
				st.outs = append(st.outs, o)
				st.mu.Unlock()
				if o.reply.Err != nil {
					// Like a real sender, back off a little when serve
					// does not answer at all.
					select {
					case <-time.After(20 * time.Millisecond):
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	go func() { wg.Wait(); close(st.done) }()
	return st
}

// outcomes returns the outcomes so far.
func (st *stream) outcomes() []outcome {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.outs)
}

// since counts the outcomes of requests started after t.
func (st *stream) since(t time.Time) tally {
	var c []outcome
	for _, o := range st.outcomes() {
		if o.start.After(t) {
			c = append(c, o)
		}
	}
	return count(c)
}

// stop stops the feed, waits for the requests in flight and returns every
// outcome.
func (st *stream) stop() []outcome {
	st.cancel()
	<-st.done
	return st.outcomes()
}
