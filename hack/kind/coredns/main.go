// CoreDNS for the kind cluster, built with the plugins a cluster's DNS uses rather than all of
// them: the ones kubeadm's Corefile names (errors, health, ready, kubernetes, prometheus, forward,
// cache, loop, reload, loadbalance) and a few a Corefile is commonly given besides (log, hosts,
// rewrite, template, whoami). CoreDNS's own main imports every plugin, the cloud providers' among
// them; this is its documented compile-time selection, a main of one's own that imports the chosen
// plugins and sets the order they run in.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// The plugins in the order CoreDNS's plugin.cfg gives them: a server block runs them in this order,
// whatever order its Corefile lists them in.
var directives = []string{
	"reload", "ready", "health", "prometheus", "errors", "log", "loadbalance", "cache", "rewrite",
	"template", "hosts", "kubernetes", "loop", "forward", "whoami",
}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
