//go:build !linux

package e2e

import "syscall"

// procAttr: only Linux can tie a child's life to its parent's; elsewhere
// t.Cleanup is the only guard.
func procAttr() *syscall.SysProcAttr { return nil }
