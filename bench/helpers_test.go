package bench_test

import (
	"fmt"
	"os"
)

// makeTempDir is a directory for the benchmark database shared by every run
// of a benchmark (b.TempDir would be removed after the first).
func makeTempDir() (string, error) { return os.MkdirTemp("", "latchkey-bench-") }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
