package harness

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// FreeAddr returns a free 127.0.0.1 TCP address for a child process to listen
// on, often again after each restart. The port is taken below the kernel's
// ephemeral range: a port from that range (what ":0" gives) can become the
// source port of any outgoing connection while the child is down, and a
// restarted job then fails to bind it (a CI run of session 35's faults tier:
// "bind: address already in use" on a restart).
func FreeAddr() (string, error) {
	lo, hi := nonEphemeralPorts()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a crowded range: any free port
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// nonEphemeralPorts is the range [lo, hi) FreeAddr picks from: from 20000 up
// to the start of Linux's ip_local_port_range (32768 when it cannot be read).
func nonEphemeralPorts() (lo, hi int) {
	lo, hi = 20000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err == nil && first > lo+1000 {
		hi = first
	}
	return lo, hi
}
