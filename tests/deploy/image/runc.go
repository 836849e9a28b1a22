package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Container is one `runc run` of a bundle, in the foreground of a child
// process we started; runc's state lives under our own --root, so other runc
// users on the machine are never touched.
type Container struct {
	runc, root, ID string
	cmd            *exec.Cmd
	done           chan struct{}
	err            error
	Log            string
}

// Start runs the bundle at dir as container id; its output goes to logPath.
func Start(runc, stateRoot, dir, id, logPath string) (*Container, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(runc, "--root", stateRoot, "run", "--bundle", dir, id)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &Container{runc: runc, root: stateRoot, ID: id, cmd: cmd, done: make(chan struct{}), Log: logPath}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

// Signal sends sig (e.g. "TERM") to the container's init process with `runc kill`.
func (c *Container) Signal(sig string) error {
	if out, err := exec.Command(c.runc, "--root", c.root, "kill", c.ID, sig).CombinedOutput(); err != nil {
		return fmt.Errorf("runc kill %s %s: %v: %s", c.ID, sig, err, out)
	}
	return nil
}

// Wait returns the container's exit code once it has stopped, or ctx's error.
func (c *Container) Wait(ctx context.Context) (int, error) {
	select {
	case <-c.done:
		if c.cmd.ProcessState == nil {
			return -1, c.err
		}
		return c.cmd.ProcessState.ExitCode(), nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// Exited reports whether the container has stopped.
func (c *Container) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Destroy kills the container if it still runs and removes runc's state of it.
func (c *Container) Destroy() {
	if !c.Exited() {
		_ = c.Signal("KILL")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = c.Wait(ctx)
	}
	_ = exec.Command(c.runc, "--root", c.root, "delete", "--force", c.ID).Run()
}

// Pid returns the host PID of the container's init process (`runc state`).
func (c *Container) Pid() (int, error) {
	out, err := exec.Command(c.runc, "--root", c.root, "state", c.ID).Output()
	if err != nil {
		return 0, fmt.Errorf("runc state %s: %w", c.ID, err)
	}
	var st struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return 0, err
	}
	return st.Pid, nil
}
