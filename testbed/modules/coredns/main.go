// Command coredns is CoreDNS with only the plugins the testbed's real node uses: cluster DNS for
// Services and pods (kubernetes), a cache, health and readiness endpoints, and error logging. Nothing
// forwards queries anywhere: names outside the cluster are not resolved (nothing leaves the machine).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
