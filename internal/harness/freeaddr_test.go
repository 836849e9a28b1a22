package harness

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeAddrIsBindableAndOutsideTheEphemeralRange(t *testing.T) {
	lo, hi := nonEphemeralPorts()
	for range 20 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < lo || port >= hi {
			t.Fatalf("FreeAddr() = %s: port not in [%d, %d)", addr, lo, hi)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("FreeAddr() = %s, not bindable: %v", addr, err)
		}
		ln.Close()
	}
}
