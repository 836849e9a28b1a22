package harness

import "syscall"

// procAttr makes a child die with the test process, so an interrupted test
// leaves no job running.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
