// etcd-benchmark: etcd's own benchmark tool (go.etcd.io/etcd/v3/tools/benchmark), which
// cannot be go-installed, built through this wrapper module, its version pinned in go.mod.
// bench/etcd_api.py runs it against faultlab's etcd endpoints and a real etcd.
package main

import (
	"fmt"
	"os"

	"go.etcd.io/etcd/v3/tools/benchmark/cmd"
)

func main() {
	if err := cmd.RootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
