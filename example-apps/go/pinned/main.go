// Command pinned prints the Go release it was built with: go.mod pins go1.25.4 with its
// toolchain line, another release than the build image's Go.
package main

import (
	"fmt"
	"runtime"
)

// BuiltWith is the Go release this binary was compiled by.
func BuiltWith() string {
	return runtime.Version()
}

func main() {
	fmt.Println("built with", BuiltWith())
}
