// Command etcd is etcd's own server entry point (go.etcd.io/etcd/server/v3/etcdmain), built at the version
// kube-apiserver's etcd client was released with.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
