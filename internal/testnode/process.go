package testnode

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Process is a program a test runs (trustd, mostly) and starts again as
// often as it likes. Standard output and error of every start are
// appended to one log file.
type Process struct {
	// Name names the process in failure messages.
	Name string
	// Bin is the program and Args its arguments.
	Bin  string
	Args []string
	// Env is added to CleanEnv; Dir is the working directory (empty: the
	// test's).
	Env []string
	Dir string
	// Log is the path of the log file.
	Log string

	starts []int64 // the log's size at each start
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
}

// Start starts the process.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- the test's own log file
	if err != nil {
		t.Fatal(err)
	}
	at, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		_ = f.Close()
		t.Fatal(err)
	}
	cmd := exec.Command(p.Bin, p.Args...) // #nosec G204 -- the test's own binary and arguments
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = CleanEnv(p.Env...), p.Dir, f, f
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		t.Fatalf("start %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	p.starts = append(p.starts, at)
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(done)
	}()
}

// Starts is how often the process was started.
func (p *Process) Starts() int { return len(p.starts) }

// Done is closed once the current start has exited; Err is then Wait's
// answer.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the current start exited, once Done is closed.
func (p *Process) Err() error { return p.err }

// Running reports whether the process was started and has not exited.
func (p *Process) Running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// ExitCode is the exit code of the current start, once it has exited.
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Kill ends the process with SIGKILL and waits until it is gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if !p.Running() {
		return
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill %s: %v", p.Name, err)
	}
	<-p.done
}

// Notify sends sig to the running process without waiting (SIGHUP: reload).
func (p *Process) Notify(t testing.TB, sig os.Signal) {
	t.Helper()
	if !p.Running() {
		t.Fatalf("signal %s: not running", p.Name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.Name, err)
	}
}

// Signal sends sig and waits up to timeout for the process to exit,
// returning how it exited (nil when it was not running). After timeout it
// kills the process and fails the test.
func (p *Process) Signal(t testing.TB, sig os.Signal, timeout time.Duration) error {
	t.Helper()
	if !p.Running() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal %s: %v", p.Name, err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill(t)
		t.Fatalf("%s did not exit within %v of %v\n%s", p.Name, timeout, sig, Tail(p.Output(), 30))
		return nil
	}
}

// Output is everything the process wrote, every start's.
func (p *Process) Output() string {
	b, _ := os.ReadFile(p.Log) // #nosec G304 -- the test's own log file
	return string(b)
}

// StartOutput is what the start-th start (from 1) wrote.
func (p *Process) StartOutput(start int) string {
	out := p.Output()
	from := min(int(p.starts[start-1]), len(out))
	to := len(out)
	if start < len(p.starts) {
		to = min(int(p.starts[start]), len(out))
	}
	return out[from:to]
}

// LastOutput is what the current start wrote.
func (p *Process) LastOutput() string { return p.StartOutput(len(p.starts)) }

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
