// Command failingtest builds fine, but one of its tests fails: a test image's `test` process
// must report the failure.
package main

import "fmt"

// Add adds two numbers, wrongly.
func Add(a, b int) int {
	return a - b
}

func main() {
	fmt.Println(Add(2, 2))
}
