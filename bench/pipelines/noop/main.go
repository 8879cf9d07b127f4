// Command noop exits 0 at once: the body of the bench's no-op container
// steps, so a step's time is the container's start and stop alone.
package main

func main() {}
