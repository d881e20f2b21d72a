package chaostest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Node is one trustd process of a chaos cluster: its addresses, its
// flags (the same at every start), and the process while it runs. The
// nemesis stops it with Kill, Pause and Resume; any other exit is
// unexpected and recorded.
type Node struct {
	// ID is the node id (n1, n2, …).
	ID string
	// Dir holds the data directory (Dir/data) and the log (Dir/trustd.log).
	Dir string
	// HTTPAddr, RaftAddr and GossipAddr are the addresses trustd binds.
	HTTPAddr, RaftAddr, GossipAddr string
	// Proxy is the node's Raft proxy: the address it advertises for Raft.
	Proxy *Proxy

	bin  string
	args []string

	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
	expectExit bool
	paused     bool
	starts     int
	unexpected []string
	onExit     func(n *Node, msg string)
}

// DataDir is the node's data directory.
func (n *Node) DataDir() string { return filepath.Join(n.Dir, "data") }

// LogPath is the file trustd's standard output and error go to.
func (n *Node) LogPath() string { return filepath.Join(n.Dir, "trustd.log") }

// URL is the node's API base URL.
func (n *Node) URL() string { return "http://" + n.HTTPAddr }

// Args are the node's trustd flags.
func (n *Node) Args() []string { return append([]string(nil), n.args...) }

// Start starts trustd with the node's flags. It fails if the process is
// running already.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("start %s: already running", n.ID)
	}
	f, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- the harness's own log file
	if err != nil {
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	n.starts++
	fmt.Fprintf(f, "\n=== chaostest: start %d of %s at %s\n", n.starts, n.ID, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(filepath.Join(n.bin, "trustd"), n.args...) // #nosec G204 -- the harness's own binary and flags
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	n.cmd, n.exited, n.expectExit, n.paused = cmd, make(chan struct{}), false, false
	exited := n.exited
	go func() {
		err := cmd.Wait()
		_ = f.Close()
		n.mu.Lock()
		expected := n.expectExit
		n.cmd = nil
		var msg string
		switch {
		case expected:
		case n.bindFailed():
			// Another process on the machine took one of the node's ports
			// while it was down (the harness's problem, not trustd's):
			// the nemesis starts it again.
			msg = fmt.Sprintf("%s could not bind its ports at %s; it will be started again", n.ID, time.Now().UTC().Format(time.RFC3339Nano))
		default:
			msg = fmt.Sprintf("%s exited on its own at %s: %v", n.ID, time.Now().UTC().Format(time.RFC3339Nano), errString(err))
			n.unexpected = append(n.unexpected, msg)
		}
		onExit := n.onExit
		n.mu.Unlock()
		close(exited)
		if msg != "" && onExit != nil {
			onExit(n, msg)
		}
	}()
	return nil
}

func errString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Running reports whether the process runs (paused counts as running).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Paused reports whether the process is stopped with SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && n.paused
}

// Pid is the process id, 0 when it does not run.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Unexpected lists the exits the harness did not cause.
func (n *Node) Unexpected() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.unexpected...)
}

// Kill sends SIGKILL and waits for the process to exit. A node that is not
// running is left alone.
func (n *Node) Kill() error {
	return n.stop(syscall.SIGKILL, 10*time.Second)
}

// Terminate sends SIGTERM (a graceful shutdown) and waits up to timeout,
// then kills.
func (n *Node) Terminate(timeout time.Duration) error {
	err := n.stop(syscall.SIGTERM, timeout)
	if errors.Is(err, errNoExit) {
		return n.Kill()
	}
	return err
}

var errNoExit = errors.New("did not exit")

func (n *Node) stop(sig syscall.Signal, timeout time.Duration) error {
	n.mu.Lock()
	if n.cmd == nil {
		n.mu.Unlock()
		return nil
	}
	n.expectExit = true
	proc, exited, paused := n.cmd.Process, n.exited, n.paused
	n.mu.Unlock()
	if err := proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", n.ID, err)
	}
	if paused && sig != syscall.SIGKILL {
		_ = proc.Signal(syscall.SIGCONT)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-exited:
		return nil
	case <-t.C:
		return fmt.Errorf("%s: %w %v after %v", n.ID, errNoExit, timeout, sig)
	}
}

// Pause stops the process with SIGSTOP.
func (n *Node) Pause() error { return n.pauseSignal(syscall.SIGSTOP, true) }

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() error { return n.pauseSignal(syscall.SIGCONT, false) }

func (n *Node) pauseSignal(sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil
	}
	if err := n.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%v %s: %w", sig, n.ID, err)
	}
	n.paused = paused
	return nil
}

// Tail returns the last lines of the node's log.
func (n *Node) Tail(lines int) string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// cleanEnv is the environment without the TRUSTLEDGER_* settings of the
// machine running the harness.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTLEDGER_") {
			env = append(env, kv)
		}
	}
	return env
}

// bindFailed says whether the node's last start ended because one of its
// ports was in use: its log since the last start marker says so.
func (n *Node) bindFailed() bool {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return false
	}
	if i := bytes.LastIndex(b, []byte("\n=== chaostest: start ")); i >= 0 {
		b = b[i:]
	}
	return bytes.Contains(b, []byte("bind: address already in use"))
}
