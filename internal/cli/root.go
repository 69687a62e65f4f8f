package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
)

// Env is everything a command may touch, so tests run it in-process.
type Env struct {
	Args       []string // without the program name
	Getenv     func(string) string
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	IsTerminal bool // stdout is a terminal (tables may use colour/width); false in tests
}

// Command is a top-level command implemented outside this package (such as
// "server"). It gets its arguments unparsed, so it owns its flags and help.
type Command struct {
	Name, Summary string
	Run           func(ctx context.Context, env Env, args []string) int
}

// Exit codes; doc.go and `rayfleet --help` list them for users.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitRefused  = 3
	exitNotFound = 4
)

// defaultEndpoint is where `rayfleet server` listens with no configuration,
// used when credentials come from the environment without an endpoint.
const defaultEndpoint = "127.0.0.1:8080"

// version is set at build time with
// -ldflags "-X github.com/rayfleet/rayfleet/internal/cli.version=v1.2.3";
// without it the module version from the build info is shown.
var version string

// Run runs the CLI and returns the process exit code. extra adds top-level
// commands implemented elsewhere (e.g. "server"), each with a one-line summary.
func Run(ctx context.Context, env Env, extra []Command) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	a := &app{env: env, now: time.Now}
	root := a.rootCommand(extra)
	// A nil slice would make cobra read os.Args, which in tests are the test
	// binary's flags.
	args := env.Args
	if args == nil {
		args = []string{}
	}
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		code, msg := a.describe(err)
		// One line, whatever a server message or a name in it holds.
		fmt.Fprintln(env.Stderr, "error: "+printable(msg))
		return code
	}
	return a.exit
}

// app holds one invocation's state: the environment and the global flags.
type app struct {
	env  Env
	now  func() time.Time
	exit int // set by extra commands, which report their own exit code

	// Global flags.
	profile   string
	endpoint  string
	workspace string
	output    string

	// rec keeps the last response body so -o json can print it as sent.
	rec *recorder
	// target is the endpoint in use, for network error messages.
	target string
}

const rootLong = `rayfleet runs managed Ray clusters. This is its command line: it talks to a
rayfleet server (start one with "rayfleet server") over the signed HTTP API.

Credentials and defaults come from, in order: flags (--endpoint, --workspace),
then the environment (RAYFLEET_ENDPOINT, RAYFLEET_ACCESS_KEY_ID,
RAYFLEET_ACCESS_KEY_SECRET, RAYFLEET_WORKSPACE), then a profile in the profile
file ($RAYFLEET_CONFIG, else ~/.rayfleet/config.json). The profile is the one
named by --profile, else $RAYFLEET_PROFILE, else the file's current one. A
profile named with --profile beats the environment. "rayfleet server" writes a
profile at its first start.

Every command prints a table by default; -o json prints the server's response.

Exit codes:
  0  success
  1  unexpected error: network, server (5xx), local I/O
  2  usage error: bad command, flag or argument; missing credentials or workspace
  3  the API refused the request (4xx other than not found)
  4  not found (ResourceNotFound, 404, unknown profile)`

const rootExample = `  rayfleet server &                  # first start writes a profile
  rayfleet cluster create --name dev --workers 2
  rayfleet cluster list
  rayfleet cluster get ray-k7nm8ahl5te4tg91 -o json
  rayfleet -w w-26ca1703f6d71e6e queue list`

func (a *app) rootCommand(extra []Command) *cobra.Command {
	root := &cobra.Command{
		Use:           "rayfleet",
		Short:         "Run managed Ray clusters",
		Long:          rootLong,
		Example:       rootExample,
		Args:          groupArgs,
		RunE:          missingCommand,
		SilenceErrors: true,
		// See group.
		SuggestionsMinimumDistance: 2,
		SilenceUsage:               true,
		// Options are checked before any command runs, so a typo in -o never
		// sends a request.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.output != "table" && a.output != "json" {
				return usagef("-o must be table or json, not %q", a.output)
			}
			return nil
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see %q)", err, c.CommandPath()+" --help")
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.profile, "profile", "", "profile to use (default $RAYFLEET_PROFILE, else the current profile)")
	pf.StringVar(&a.endpoint, "endpoint", "", "server address, host:port or URL (default $RAYFLEET_ENDPOINT, else the profile's)")
	pf.StringVarP(&a.workspace, "workspace", "w", "", "workspace id (default $RAYFLEET_WORKSPACE, else the profile's)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(
		a.clusterCommand(),
		a.workspaceCommand(),
		a.queueCommand(),
		a.releaseCommand(),
		a.networkCommand(),
		a.profileCommand(),
		a.userCommand(),
		a.keyCommand(),
		a.policyCommand(),
		a.auditCommand(),
		a.logsCommand(),
		a.versionCommand(),
	)
	for _, x := range extra {
		root.AddCommand(a.extraCommand(x))
	}
	return root
}

// extraCommand wraps a command from another package. Its flags are its own
// business, so cobra passes everything after the name through untouched.
func (a *app) extraCommand(x Command) *cobra.Command {
	return &cobra.Command{
		Use:                x.Name,
		Short:              x.Summary,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			env := a.env
			env.Args = args
			a.exit = x.Run(cmd.Context(), env, args)
			return nil
		},
	}
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of this rayfleet binary",
		Example: "  rayfleet version\n  rayfleet version -o json",
		Args:    exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if a.json() {
				return a.printValue(map[string]string{
					"version": v, "apiVersion": api.Version, "go": runtime.Version(),
					"platform": runtime.GOOS + "/" + runtime.GOARCH,
				})
			}
			fmt.Fprintf(a.env.Stdout, "rayfleet %s (API %s, %s %s/%s)\n", v, api.Version,
				runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		}),
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// group returns a noun command such as "cluster": it only holds verbs, and
// running it bare or with an unknown verb is a usage error.
func group(use, short, long, example string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    groupArgs,
		RunE:    missingCommand,
		// Cobra's own default (2) applies only where cobra looks for
		// suggestions itself, not in groupArgs.
		SuggestionsMinimumDistance: 2,
	}
}

// groupArgs reports a word that is not a subcommand. Cobra only checks this
// on the root by itself; on nested commands it would print help and succeed.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	hint := ""
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf("did you mean %q? ", s[0])
	}
	return usagef("unknown command %q for %q (%ssee %q)", args[0], cmd.CommandPath(), hint, cmd.CommandPath()+" --help")
}

func missingCommand(cmd *cobra.Command, _ []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return usagef("%s needs a command: %s (see %q)", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath()+" --help")
}

// exactArgs wants exactly the named positional arguments, and says which one
// is missing or extra.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		help := cmd.CommandPath() + " --help"
		switch {
		case len(args) < len(names):
			return usagef("%s: missing %s (see %q)", cmd.CommandPath(), strings.Join(names[len(args):], " "), help)
		case len(args) > len(names):
			return usagef("%s: unexpected argument %q (see %q)", cmd.CommandPath(), args[len(names)], help)
		}
		return nil
	}
}

// optionalArg takes zero or one positional argument.
func optionalArg(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usagef("%s: unexpected argument %q (see %q)", cmd.CommandPath(), args[1], cmd.CommandPath()+" --help")
	}
	return nil
}

// usageError is a mistake in how the command was called: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// notFoundError is a local thing that does not exist (a profile): exit 4.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// runError marks an error returned by a command's own code, as opposed to
// one cobra returns while parsing (always a usage error).
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

func (a *app) wrap(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return &runError{err: err}
		}
		return nil
	}
}

// describe turns an error into its exit code and the one line shown after
// "error: ".
func (a *app) describe(err error) (int, string) {
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage, ue.msg
	}
	var re *runError
	if !errors.As(err, &re) {
		// Cobra's own complaints (unknown command, bad arguments) may span
		// lines; keep them to one.
		return exitUsage, strings.Join(strings.Fields(err.Error()), " ") + ` (see "rayfleet --help")`
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return apiExitCode(ae), apiErrorLine(ae)
	}
	var nf *notFoundError
	if errors.As(err, &nf) {
		return exitNotFound, nf.msg
	}
	if errors.Is(err, context.Canceled) {
		return exitError, "interrupted"
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return exitError, fmt.Sprintf("cannot reach the rayfleet server at %s (%v); check that it is running (rayfleet server) and that the endpoint is right",
			a.target, urlErr.Err)
	}
	return exitError, err.Error()
}

func apiErrorLine(e *api.Error) string {
	if e.RequestID == "" {
		return e.Code + ": " + e.Message
	}
	return e.Error()
}

func apiExitCode(e *api.Error) int {
	switch {
	case e.StatusCode >= 500:
		return exitError
	// An unknown access key is a credential problem, not a missing resource.
	case strings.HasPrefix(e.Code, "InvalidAccessKeyId"):
		return exitRefused
	case e.Code == "ResourceNotFound" || e.StatusCode == http.StatusNotFound:
		return exitNotFound
	case e.StatusCode >= 400:
		return exitRefused
	}
	return exitError
}

// settings are what a command talks to the server with, after flags,
// environment and profile have been weighed.
type settings struct {
	endpoint, keyID, secret, workspace string
	// profileErr is why the profile file could not be read, when the flags
	// and environment gave everything without it.
	profileErr error
}

// resolve picks the endpoint, credentials and workspace: flags, then the
// environment, then the profile. A profile named with --profile is an explicit
// choice on the command line, so its values beat the environment (as with
// the AWS CLI); only --endpoint and --workspace beat it. A profile file that
// cannot be read (damaged, say) matters only when a profile is named or
// something is missing without it: a command whose endpoint and credentials
// all come from flags and the environment runs, and the file is named only
// where it is needed.
func (a *app) resolve() (*settings, error) {
	getenv := a.env.Getenv
	path, pathErr := ProfilePath(getenv)
	pf := &ProfileFile{Profiles: map[string]Profile{}}
	var profileErr error
	if pathErr == nil {
		if loaded, err := LoadProfiles(path); err != nil {
			profileErr = err
		} else {
			pf = loaded
		}
	}
	var p Profile
	explicit := a.profile != ""
	name := a.profile
	if name == "" {
		name = getenv("RAYFLEET_PROFILE")
	}
	if name != "" && profileErr != nil {
		return nil, fmt.Errorf("profile %q: %w", name, profileErr)
	}
	if name != "" {
		var ok bool
		if p, ok = pf.Profiles[name]; !ok {
			where := path
			if pathErr != nil {
				where = "the profile file (" + pathErr.Error() + ")"
			}
			return nil, usagef("profile %q not found in %s (see \"rayfleet profile list\")", name, where)
		}
	} else if pf.Current != "" {
		p = pf.Profiles[pf.Current]
	}

	s := &settings{profileErr: profileErr}
	envKey, envSecret := getenv("RAYFLEET_ACCESS_KEY_ID"), getenv("RAYFLEET_ACCESS_KEY_SECRET")
	// Key id and secret travel as a pair: half from one source and half from
	// another would never sign correctly.
	if explicit && p.AccessKeyID != "" || envKey == "" {
		s.keyID, s.secret = p.AccessKeyID, p.AccessKeySecret
	} else {
		s.keyID, s.secret = envKey, envSecret
	}
	if explicit {
		s.endpoint = first(a.endpoint, p.Endpoint, getenv("RAYFLEET_ENDPOINT"))
		s.workspace = first(a.workspace, p.WorkspaceID, getenv("RAYFLEET_WORKSPACE"))
	} else {
		s.endpoint = first(a.endpoint, getenv("RAYFLEET_ENDPOINT"), p.Endpoint)
		s.workspace = first(a.workspace, getenv("RAYFLEET_WORKSPACE"), p.WorkspaceID)
	}
	if profileErr != nil && (s.keyID == "" || s.secret == "" || s.endpoint == "") {
		return nil, fmt.Errorf("%w; fix or remove it, or set RAYFLEET_ENDPOINT, RAYFLEET_ACCESS_KEY_ID and RAYFLEET_ACCESS_KEY_SECRET", profileErr)
	}
	if s.keyID == "" || s.secret == "" {
		where := "a profile"
		if pathErr == nil {
			where = "a profile to " + path
		}
		return nil, usagef("no credentials: start \"rayfleet server\" (it writes %s) or set RAYFLEET_ENDPOINT, RAYFLEET_ACCESS_KEY_ID and RAYFLEET_ACCESS_KEY_SECRET", where)
	}
	if s.endpoint == "" {
		s.endpoint = defaultEndpoint
	}
	return s, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// client returns an API client for the resolved settings.
func (a *app) client() (*api.Client, *settings, error) {
	s, err := a.resolve()
	if err != nil {
		return nil, nil, err
	}
	a.target = s.endpoint
	a.rec = &recorder{base: http.DefaultTransport}
	c := &api.Client{
		Endpoint:    s.endpoint,
		Credentials: signer.Credentials{AccessKeyID: s.keyID, AccessKeySecret: s.secret},
		// A server that accepts the connection and never answers should not
		// hang a terminal forever.
		HTTP:      &http.Client{Transport: a.rec, Timeout: 2 * time.Minute},
		UserAgent: "rayfleet-cli/" + buildVersion(),
	}
	return c, s, nil
}

// clientWS is client for commands scoped to a workspace, which must be known.
func (a *app) clientWS() (*api.Client, string, error) {
	c, s, err := a.client()
	if err != nil {
		return nil, "", err
	}
	if s.workspace == "" && s.profileErr != nil {
		return nil, "", usagef("no workspace: pass -w WORKSPACE_ID or set RAYFLEET_WORKSPACE (%v)", s.profileErr)
	}
	if s.workspace == "" {
		return nil, "", usagef("no workspace: pass -w WORKSPACE_ID, set RAYFLEET_WORKSPACE, or save one in the profile (rayfleet profile set NAME --workspace ID); list them with \"rayfleet workspace list\"")
	}
	return c, s.workspace, nil
}
