package testnode

import "syscall"

// procAttr makes the kernel kill a process a test started if the test
// binary dies without cleaning up (a panic, or go test's -timeout).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
