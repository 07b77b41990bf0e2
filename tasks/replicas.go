package tasks

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Which replicas the intake waits for. WAIT N confirms that N replicas
// have an input, but not which ones. With more replicas online than N,
// Sentinel may promote one that had not got it yet: it picks among the
// replicas by the replication offsets it last saw, which can be seconds
// old when the primary dies, and the acknowledged input is gone. So with
// WaitReplicas the intake WAITs for every replica the primary has online,
// and for at least WaitReplicas: whichever of them is promoted has every
// acknowledged input. A replica still in its first sync is not online, and
// one whose last acknowledgement to the primary is more than maxReplicaLag
// old (it hangs, or its link is broken) is not counted: neither holds
// acknowledgements back for longer than a count's refresh. Replicas
// acknowledge every second, so a healthy one's lag is 0 or 1.

// replicasRefresh is how long the count of online replicas is reused.
const replicasRefresh = 500 * time.Millisecond

// maxReplicaLag is the most seconds since a replica's last acknowledgement
// for it to be counted (the lag field of INFO replication).
const maxReplicaLag = 2

// onlineReplicas caches how many replicas the primary has online.
type onlineReplicas struct {
	n          atomic.Int64
	at         atomic.Int64 // unix nanoseconds of the last count; 0: count again
	refreshing atomic.Bool  // one goroutine counts; the others use the last count
}

// replicasToWait returns how many replicas confirm waits for: every one
// the primary has online, at least WaitReplicas. It counts them again
// (INFO replication) when the last count is older than replicasRefresh; a
// failed count keeps the last one.
func (in *Intake) replicasToWait(ctx context.Context) int {
	r := &in.replicas
	if time.Now().UnixNano()-r.at.Load() >= int64(replicasRefresh) && r.refreshing.CompareAndSwap(false, true) {
		if info, err := in.rdb.Info(ctx, "replication").Result(); err == nil {
			r.n.Store(int64(countOnline(info)))
			r.at.Store(time.Now().UnixNano())
		}
		r.refreshing.Store(false)
	}
	return max(in.waitReplicas, int(r.n.Load()))
}

// countOnline counts the replicas a primary's INFO replication lists as
// online with a lag of at most maxReplicaLag seconds
// ("slave0:ip=…,port=…,state=online,offset=…,lag=…").
func countOnline(info string) int {
	n := 0
	for line := range strings.Lines(info) {
		_, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(line, "slave") || !strings.Contains(fields, ",state=online,") {
			continue
		}
		_, lag, _ := strings.Cut(fields, ",lag=")
		if s, err := strconv.Atoi(lag); err == nil && s <= maxReplicaLag {
			n++
		}
	}
	return n
}
