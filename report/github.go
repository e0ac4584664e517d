package report

import (
	"fmt"
	"io"
	"strings"
)

var githubCommands = map[string]string{"failure": "error", "warning": "warning", "dryrun": "notice"}

// writeGitHub prints GitHub Actions workflow commands, which the runner turns
// into annotations on the file and line of each document.
func writeGitHub(w io.Writer, r *Report) error {
	for _, v := range verdicts(r) {
		title := "budgetgate " + ruleID(v.finding)
		if _, err := fmt.Fprintf(w, "::%s file=%s,line=%d,title=%s::%s\n", githubCommands[v.level],
			escapeProperty(v.result.Document.File), v.result.Document.Line, escapeProperty(title), escapeData(v.finding.Msg)); err != nil {
			return err
		}
	}
	c := count(r)
	_, err := fmt.Fprintf(w, "%s: %s, %s\n", plural(c.documents, "document"), plural(c.failures, "failure"), plural(c.warnings, "warning"))
	return err
}

// Workflow command escaping, as the Actions toolkit does it.
var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

func escapeData(s string) string     { return dataEscaper.Replace(s) }
func escapeProperty(s string) string { return propertyEscaper.Replace(s) }
