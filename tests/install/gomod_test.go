package install

import (
	"k8s.io/apimachinery/pkg/util/intstr"
	"os/exec"
)

// goListModuleDir is the folder of module in the module cache.
func goListModuleDir(module string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).CombinedOutput()
	return string(out), err
}

func intstrPort(p int) intstr.IntOrString { return intstr.FromInt32(int32(p)) }
