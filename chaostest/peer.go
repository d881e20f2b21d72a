package chaostest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// ProcIdentifier names the dialer of a loopback TCP connection from
// Linux's /proc: it finds the dialer's socket in /proc/net/tcp (the entry
// whose local address is the connection's remote end and whose remote
// address is the proxy's end), then the process holding that socket among
// the pids that pids returns (pid → node id). An L4 proxy sees only the
// destination of a connection; this is how it learns the source, so that
// it can block one direction of one pair of nodes. It returns Unknown on
// any other system, or when the socket or its process is not found.
func ProcIdentifier(pids func() map[int]string) Identifier {
	return func(local, remote net.Addr) string {
		l, ok1 := local.(*net.TCPAddr)
		r, ok2 := remote.(*net.TCPAddr)
		if !ok1 || !ok2 {
			return Unknown
		}
		inode, err := socketInode(r, l)
		if err != nil || inode == "" {
			return Unknown
		}
		want := "socket:[" + inode + "]"
		for pid, node := range pids() {
			if holdsSocket(pid, want) {
				return node
			}
		}
		return Unknown
	}
}

// socketInode finds the inode of the TCP socket whose local address is
// local and remote address is remote, in /proc/net/tcp (IPv4) or
// /proc/net/tcp6.
func socketInode(local, remote *net.TCPAddr) (string, error) {
	file := "/proc/net/tcp"
	if local.IP.To4() == nil {
		file = "/proc/net/tcp6"
	}
	f, err := os.Open(file) // #nosec G304 -- a fixed /proc path
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	wantLocal, wantRemote := procAddr(local), procAddr(remote)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		if strings.EqualFold(fields[1], wantLocal) && strings.EqualFold(fields[2], wantRemote) {
			return fields[9], nil
		}
	}
	return "", sc.Err()
}

// procAddr formats addr as /proc/net/tcp does: each 32-bit word of the
// address as a host-order integer in hex (127.0.0.1 is 0100007F on
// little-endian machines, which are the ones this runs on), a colon, the
// port in hex.
func procAddr(addr *net.TCPAddr) string {
	ip := addr.IP.To4()
	if ip == nil {
		ip = addr.IP.To16()
	}
	var b strings.Builder
	for i := 0; i+4 <= len(ip); i += 4 {
		fmt.Fprintf(&b, "%08X", binary.LittleEndian.Uint32(ip[i:i+4]))
	}
	return fmt.Sprintf("%s:%04X", b.String(), addr.Port)
}

// holdsSocket reports whether process pid has a file descriptor open on
// the socket named want ("socket:[inode]").
func holdsSocket(pid int, want string) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && target == want {
			return true
		}
	}
	return false
}
