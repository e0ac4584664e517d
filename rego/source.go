package rego

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Files is a policy set's source: Rego text by the file name that errors name.
type Files map[string][]byte

// ReadFS reads every .rego file below root in fsys, test files excepted (they
// are for `opa test`). prefix is put before each name so errors point at a
// path the user knows.
func ReadFS(fsys fs.FS, root, prefix string) (Files, error) {
	files := Files{}
	err := fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isPolicyFile(name) {
			return nil
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		files[path.Join(prefix, name)] = text
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("reading policies: no .rego files in %s", path.Join(prefix, root))
	}
	return files, nil
}

// ReadDir reads the policy set of a folder on disk, as --policies names it.
func ReadDir(dir string) (Files, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("reading policies: %s is not a folder: pass the folder that holds the .rego files", dir)
	}
	return ReadFS(os.DirFS(dir), ".", filepath.ToSlash(filepath.Clean(dir)))
}

func isPolicyFile(name string) bool {
	return strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, "_test.rego")
}

// names lists the file names in a stable order.
func (f Files) names() []string {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
