// Package envflag lets every command-line flag of ordergate's commands be
// set from the environment as well: --sim-failure-rate is
// ORDERGATE_SIM_FAILURE_RATE. Flags on the command line win.
package envflag

import (
	"flag"
	"fmt"
	"strings"
)

// Name returns the environment variable of the flag named flagName:
// prefix, then the name in upper case with dashes as underscores.
func Name(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse sets each flag of fs whose variable (see Name) getenv returns
// non-empty, then parses args, so that the command line wins. An invalid
// value in the environment is an error naming the variable.
func Parse(fs *flag.FlagSet, prefix string, args []string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := Name(prefix, f.Name)
		if v := getenv(env); v != "" && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("invalid value %q for %s: %w", v, env, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}
