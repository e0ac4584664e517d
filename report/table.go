package report

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

func writeTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	vs := verdicts(r)
	if len(vs) > 0 {
		fmt.Fprintln(tw, "RESULT\tFILE\tOBJECT\tRULE\tMESSAGE")
	}
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s:%d\t%s\t%s\t%s\n", v.level, v.result.Document.File, v.result.Document.Line,
			v.result.Document.Name(), ruleID(v.finding), v.finding.Msg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.ShowPatches {
		for _, res := range r.Results {
			if len(res.Decision.Patch) == 0 {
				continue
			}
			patch, err := json.MarshalIndent(res.Decision.Patch, "  ", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\npatch for %s (%s:%d):\n  %s\n", res.Document.Name(), res.Document.File, res.Document.Line, patch)
		}
	}
	c := count(r)
	fmt.Fprintf(w, "\n%s in %s: %s, %s, %s", plural(c.documents, "document"), plural(len(files(r)), "file"),
		plural(c.failures, "failure"), plural(c.warnings, "warning"), plural(c.dryrun, "dryrun finding"))
	if r.ShowPatches {
		fmt.Fprintf(w, ", %s", plural(c.patched, "patched document"))
	}
	_, err := fmt.Fprintln(w)
	return err
}
