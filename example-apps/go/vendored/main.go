// Command vendored prints a new request ID. Its one dependency, github.com/google/uuid, is
// vendored (vendor/ made by `go mod vendor`), so the build needs no module download.
package main

import (
	"fmt"

	"github.com/google/uuid"
)

// RequestID returns a new random request ID.
func RequestID() string {
	return "req-" + uuid.NewString()
}

func main() {
	fmt.Println(RequestID())
}
