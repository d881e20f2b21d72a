//go:build unix

package cluster

import "golang.org/x/sys/unix"

// diskFree is the space an unprivileged user may still write on the file
// system holding dir, -1 when it cannot be read.
func diskFree(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize) // #nosec G115 -- block counts and sizes of a real file system fit
}
