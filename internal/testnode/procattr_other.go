//go:build !linux

package testnode

import "syscall"

// procAttr: only Linux can tie a child's life to its parent's; elsewhere
// the test's cleanup is the only guard.
func procAttr() *syscall.SysProcAttr { return nil }
