package client

import (
	"go/build"
	"testing"
)

// TestImportsOnlyTheStandardLibrary keeps the package free of dependencies
// (test files may import anything): API consumers get nothing else in their
// module graph. Standard library packages import only the standard
// library, so checking the direct imports is enough.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports found")
	}
	for _, path := range pkg.Imports {
		p, err := build.Import(path, ".", build.FindOnly)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !p.Goroot {
			t.Errorf("client imports %s, which is not in the standard library", path)
		}
	}
}
