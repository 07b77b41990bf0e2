package tasks

import "testing"

// TestCountOnline: only online replicas that acknowledged within
// maxReplicaLag seconds count.
func TestCountOnline(t *testing.T) {
	info := "# Replication\r\nrole:master\r\nconnected_slaves:4\r\n" +
		"slave0:ip=127.0.0.1,port=6380,state=online,offset=120,lag=0\r\n" +
		"slave1:ip=127.0.0.1,port=6381,state=online,offset=120,lag=2\r\n" +
		"slave2:ip=127.0.0.1,port=6382,state=online,offset=90,lag=3\r\n" +
		"slave3:ip=127.0.0.1,port=6383,state=wait_bgsave,offset=0,lag=0\r\n" +
		"master_failover_state:no-failover\r\nmaster_repl_offset:120\r\n"
	if n := countOnline(info); n != 2 {
		t.Errorf("countOnline = %d, want 2 (slave0 and slave1)", n)
	}
	if n := countOnline("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"); n != 0 {
		t.Errorf("countOnline without replicas = %d", n)
	}
}
