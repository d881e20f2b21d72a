package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// commandUsage prints a command's usage: its synopsis, then its own flags
// (not the global ones) the way they are typed, --name PLACEHOLDER, with
// the placeholder the synopsis uses for the flag (--base N), else the one
// its usage text backquotes, else one for its type.
func (c *cli) commandUsage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintf(w, "Usage: %s %s\n", fs.Name(), synopsis)
	global := map[string]bool{}
	c.flagSet("").VisitAll(func(f *flag.Flag) { global[f.Name] = true })
	placeholders := synopsisPlaceholders(synopsis)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if global[f.Name] {
			return
		}
		if first {
			fmt.Fprintln(w, "\nFlags:")
			first = false
		}
		fmt.Fprintf(w, "  %s\n      %s\n", flagForm(f, placeholders[f.Name]), flagHelp(f))
	})
	fmt.Fprintln(w, "\nGlobal flags (--addr, --token, --token-file, --output, ...): see 'trustctl help'.")
}

// synopsisFlag is "--name PLACEHOLDER" in a synopsis.
var synopsisFlag = regexp.MustCompile(`--([a-z][a-z0-9-]*)(?:[ =]([A-Z][A-Za-z0-9_:|.-]*|[a-z0-9-]+(?:\|[a-z0-9-]+)+))?`)

// synopsisPlaceholders maps each flag the synopsis shows with a value to
// that value's placeholder.
func synopsisPlaceholders(synopsis string) map[string]string {
	out := map[string]string{}
	for _, m := range synopsisFlag.FindAllStringSubmatch(synopsis, -1) {
		if m[2] != "" {
			if _, ok := out[m[1]]; !ok {
				out[m[1]] = m[2]
			}
		}
	}
	return out
}

// isBoolFlag reports whether f takes no value.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagForm is how f is typed: --name, or --name PLACEHOLDER.
func flagForm(f *flag.Flag, placeholder string) string {
	if isBoolFlag(f) {
		return "--" + f.Name
	}
	if placeholder == "" {
		name, _ := flag.UnquoteUsage(f)
		switch name {
		case "", "value", "string":
			placeholder = "TEXT"
		case "int", "uint", "int64", "uint64", "float":
			placeholder = "N"
		case "duration":
			placeholder = "DURATION"
		default:
			placeholder = strings.ToUpper(name)
		}
	}
	return "--" + f.Name + " " + placeholder
}

// flagHelp is f's usage text (backquotes removed) and its default, when
// it has one worth saying.
func flagHelp(f *flag.Flag) string {
	_, text := flag.UnquoteUsage(f)
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
		return text
	}
	if strings.Contains(text, "default") {
		return text
	}
	return fmt.Sprintf("%s (default %s)", text, f.DefValue)
}

// flagError is how the flag package names a flag in its errors ("flag
// provided but not defined: -typo", "invalid value … for flag -n: …").
var flagError = regexp.MustCompile(`(flag: |argument: |for flag )-([A-Za-z0-9][A-Za-z0-9-]*)`)

// doubleDash rewrites the flag package's error messages to name flags as
// they are typed, --name.
func doubleDash(msg string) string {
	msg = strings.Replace(msg, "flag provided but not defined:", "unknown flag:", 1)
	return flagError.ReplaceAllString(msg, "${1}--${2}")
}
