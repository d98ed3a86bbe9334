// Package greet is shared by both commands.
package greet

// Message is what a command named `from` prints.
func Message(from string) string {
	return "hello from " + from
}
