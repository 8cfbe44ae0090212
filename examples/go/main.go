package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("server built for %s/%s\n", runtime.GOOS, runtime.GOARCH)
}
