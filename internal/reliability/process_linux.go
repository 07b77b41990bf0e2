package reliability

import "syscall"

// sysProcAttr makes a child die with the test binary (SIGKILL on the
// parent's death), so that a test that times out or panics leaves no
// redis-server or chatsync behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
