package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/oauth"
)

// cli is what every command gets from run: the process's environment and
// standard streams, and the settings given as flags so far.
type cli struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer // only what a script consumes: a secret, an ID, a listing
	stderr io.Writer // everything for humans: notes, logs, errors
	flags  settingFlags
}

// command is one subcommand, such as "keys create".
type command struct {
	name     string
	synopsis string // its own flags and arguments
	summary  string
	run      func(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error
}

// commands lists every subcommand, in the order help shows them.
var commands = []command{
	{"serve", "", "start the server", runServe},
	{"migrate", "", "create or upgrade the database schema", runMigrate},
	{"root-keys create", "--name N [--scopes a,b]", "create a root key (default scope *); prints only the key", runRootKeysCreate},
	{"tenants create", "--id ID --name N", "create a tenant; prints its ID", runTenantsCreate},
	{"users create", "--id ID [--email E --password-stdin] [--admin] [--tenant ID…]", "create a user; prints its ID", runUsersCreate},
	{"keys create", "--user ID --name N [--env live|test] [--permissions a,b] [--tenant ID…]", "create an API key; prints only the key", runKeysCreate},
	{"keys list", "--user ID [--json]", "list a user's keys, masked, newest first", runKeysList},
	{"keys revoke", "ID", "revoke an API key for good", runKeysRevoke},
	{"permissions create", "NAME [--description D]", "add a permission to the catalog; prints its name", runPermissionsCreate},
	{"permissions list", "[--json]", "list the permission catalog", runPermissionsList},
	{"oauth-clients create", "--name N --scopes a,b [--tenant ID]", "create an OAuth client; prints only {\"clientId\", \"clientSecret\"}", runOAuthClientsCreate},
	{"signing-keys rotate", "", "start a new OAuth token signing key (published at once, signing " + latchkey.FormatDuration(oauth.PublishLead) + " later); prints its kid", runSigningKeysRotate},
	{"version", "", "print the version", runVersion},
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, flags: settingFlags{}}

	// Settings may also come before the command: latchkey --addr :9000 serve.
	top := flag.NewFlagSet("latchkey", flag.ContinueOnError)
	c.flags.register(top)
	top.SetOutput(io.Discard)
	top.Usage = func() {}
	if len(args) == 0 {
		args = []string{"latchkey"}
	}
	err := top.Parse(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		c.usage()
		return nil
	}
	if err != nil {
		c.usage()
		return err
	}
	rest := top.Args()
	if len(rest) == 0 {
		c.usage()
		return errors.New("no command given")
	}
	if rest[0] == "help" {
		if len(rest) > 1 {
			if cmd, ok := findCommand(rest[1:]); ok {
				// Its flags are defined where it runs: ask it for -h.
				return cmd.run(ctx, c, c.newFlagSet(cmd), []string{"-h"})
			}
		}
		c.usage()
		return nil
	}
	cmd, ok := findCommand(rest)
	if !ok {
		c.usage()
		if len(rest) == 1 && c.isGroup(rest[0]) {
			return fmt.Errorf("%q needs a subcommand", rest[0])
		}
		return fmt.Errorf("unknown command %q", clip(strings.Join(rest[:min(2, len(rest))], " ")))
	}
	words := len(strings.Fields(cmd.name))
	if cmd.name != "serve" {
		// Changes made from the command line are the CLI's in the audit
		// log, with the OS user running it (a server's are its callers').
		ctx = latchkey.WithActor(ctx, latchkey.Actor{Kind: latchkey.ActorCLI, ID: osUser(getenv)})
	}
	return cliError(cmd.run(ctx, c, c.newFlagSet(cmd), rest[words:]))
}

// osUser names the user running the command, as the environment says: an
// audit log label, not a credential.
func osUser(getenv func(string) string) string {
	for _, name := range []string{"USER", "LOGNAME", "USERNAME"} {
		if u := getenv(name); u != "" {
			return latchkey.Truncate(u, latchkey.MaxIDLen)
		}
	}
	return ""
}

// findCommand matches the first one or two words of args.
func findCommand(args []string) (command, bool) {
	for _, cmd := range commands {
		words := strings.Fields(cmd.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return cmd, true
		}
	}
	return command{}, false
}

func (c *cli) isGroup(word string) bool {
	for _, cmd := range commands {
		if strings.HasPrefix(cmd.name, word+" ") {
			return true
		}
	}
	return false
}

// cliError shows an application error by its message alone; its code is
// for HTTP clients.
func cliError(err error) error {
	var e *latchkey.Error
	if err == nil || !errors.As(err, &e) || e.Code == latchkey.CodeInternal || e.Code == latchkey.CodeUnavailable {
		return err
	}
	msg := e.Message
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return errors.New(msg)
}

// newFlagSet returns the flag set of cmd with every setting registered.
func (c *cli) newFlagSet(cmd command) *flag.FlagSet {
	fs := flag.NewFlagSet("latchkey "+cmd.name, flag.ContinueOnError)
	c.flags.register(fs)
	// Parse errors are returned and printed once by main; usage goes to
	// stderr.
	fs.SetOutput(io.Discard)
	fs.Usage = func() { c.commandUsage(cmd, fs) }
	return fs
}

// parse parses args, allowing flags after positional arguments
// (keys revoke ID --database-url …). It returns the positional arguments,
// or done when -h asked for help, which has been printed.
func parse(fs *flag.FlagSet, args []string) (positional []string, done bool, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, nil
			}
			return nil, false, err
		}
		if fs.NArg() == 0 {
			return positional, false, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (c *cli) usage() {
	w := c.stderr
	fmt.Fprintf(w, "Latchkey %s: a self-hosted API key server.\n\n", versionString())
	fmt.Fprintf(w, "Usage: latchkey COMMAND [flags]\n\nCommands:\n")
	for _, cmd := range commands {
		line := cmd.name
		if cmd.synopsis != "" {
			line += " " + cmd.synopsis
		}
		fmt.Fprintf(w, "  %s\n      %s\n", line, cmd.summary)
	}
	fmt.Fprintf(w, "\nCommands work directly on the configured database; no server needs to run.\n")
	fmt.Fprintf(w, "A command that prints a secret prints only the secret on stdout.\n")
	fmt.Fprintf(w, "Run 'latchkey help COMMAND' for a command's flags.\n\n")
	c.settingsUsage()
}

func (c *cli) settingsUsage() {
	w := c.stderr
	fmt.Fprintf(w, "Settings (every command; a flag wins over its environment variable):\n")
	for _, s := range settings {
		def := ""
		if s.def != "" {
			def = " (default " + s.def + ")"
		}
		fmt.Fprintf(w, "  --%s, %s%s\n      %s\n", s.flag, s.env, def, s.usage)
	}
}

func (c *cli) commandUsage(cmd command, fs *flag.FlagSet) {
	w := c.stderr
	fmt.Fprintf(w, "Usage: latchkey %s %s\n\n%s.\n", cmd.name, cmd.synopsis, cmd.summary)
	isSetting := func(name string) bool {
		return slices.ContainsFunc(settings, func(s setting) bool { return s.flag == name })
	}
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if isSetting(f.Name) {
			return
		}
		if first {
			fmt.Fprintf(w, "\nFlags:\n")
			first = false
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
	fmt.Fprintf(w, "\nEvery setting listed by 'latchkey help' is accepted too, as a flag or environment variable.\n")
}
