// Command etcd is the upstream etcd server (go.etcd.io/etcd/server/v3),
// wrapped in a main package so it can be built with `go build` from the Go
// module proxy. It mirrors go.etcd.io/etcd/v3's own main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
