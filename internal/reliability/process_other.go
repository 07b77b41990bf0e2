//go:build !linux

package reliability

import "syscall"

// sysProcAttr has no parent-death signal outside Linux: children of a test
// that dies abruptly may outlive it there.
func sysProcAttr() *syscall.SysProcAttr { return nil }
