// Command a prints its greeting.
package main

import (
	"fmt"

	"example.com/multi/internal/greet"
)

func main() {
	fmt.Println(greet.Message("a"))
}
