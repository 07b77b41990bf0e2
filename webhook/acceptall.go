package webhook

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/chatsync/chatsync/tasks"
)

// maxConcurrentAccepts bounds the events of one batch taken in at once:
// 100 events then cost about 13 rounds of Redis round trips, not 100.
const maxConcurrentAccepts = 8

// acceptAll takes xs in, up to maxConcurrentAccepts at once, within the
// enqueue timeout, and returns what became of each. The first failure
// cancels the others; it returns only once nothing is in flight.
func (s *Server) acceptAll(ctx context.Context, xs []tasks.Input) ([]tasks.Accepted, error) {
	ctx, cancel := context.WithTimeout(ctx, s.enqueueTimeout)
	defer cancel()
	res := make([]tasks.Accepted, len(xs))
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(len(xs), maxConcurrentAccepts) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(xs); i = int(next.Add(1) - 1) {
				var err error
				if res[i], err = s.accept(ctx, xs[i], len(xs) > 1); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return res, firstErr
}
