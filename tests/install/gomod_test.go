package install

import (
	"os/exec"
)

// goListModuleDir is the folder of module in the module cache.
func goListModuleDir(module string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).CombinedOutput()
	return string(out), err
}
