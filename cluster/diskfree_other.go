//go:build !unix

package cluster

// diskFree is not measured on this platform.
func diskFree(string) int64 { return -1 }
