package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// Profile is one named set of connection settings.
type Profile struct {
	Endpoint        string `json:"endpoint"` // host:port or URL
	AccessKeyID     string `json:"accessKeyId"`
	AccessKeySecret string `json:"accessKeySecret"`
	UserID          string `json:"userId,omitempty"`      // account id
	WorkspaceID     string `json:"workspaceId,omitempty"` // default workspace for commands
}

// ProfileFile is the profile file: named profiles and which one is current.
type ProfileFile struct {
	Current  string             `json:"current"`
	Profiles map[string]Profile `json:"profiles"`
}

// ProfilePath returns the profile file: $RAYFLEET_CONFIG if set, else
// $HOME/.rayfleet/config.json.
func ProfilePath(getenv func(string) string) (string, error) {
	if p := getenv("RAYFLEET_CONFIG"); p != "" {
		return p, nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("neither RAYFLEET_CONFIG nor HOME is set")
	}
	return filepath.Join(home, ".rayfleet", "config.json"), nil
}

// LoadProfiles reads the profile file at path. A missing file is an empty
// one: nobody has saved a profile yet.
func LoadProfiles(path string) (*ProfileFile, error) {
	pf := &ProfileFile{Profiles: map[string]Profile{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return pf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	if err := json.Unmarshal(data, pf); err != nil {
		return nil, fmt.Errorf("profile file %s is not valid: %w", path, err)
	}
	if pf.Profiles == nil {
		pf.Profiles = map[string]Profile{}
	}
	return pf, nil
}

// SaveProfile writes (creates or replaces) profile name in the file at path
// (mode 0600, directory 0700), keeping the other profiles; if the file has no
// current profile, name becomes current.
func SaveProfile(path, name string, p Profile) error {
	if name == "" {
		return errors.New("profile name is empty")
	}
	pf, err := LoadProfiles(path)
	if err != nil {
		return err
	}
	pf.Profiles[name] = p
	if pf.Current == "" {
		pf.Current = name
	}
	return writeProfiles(path, pf)
}

// writeProfiles replaces the file atomically, so a reader (or a server
// writing its first profile at the same moment) never sees half a file.
func writeProfiles(path string, pf *ProfileFile) error {
	data, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save profiles: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return fmt.Errorf("save profiles: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	// The file holds secrets: owner only, set before any byte is written.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save profiles: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save profiles: %w", err)
	}
	// Synced before the rename, so a crash leaves the old file or the new
	// one, never an empty one in its place.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save profiles: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save profiles: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save profiles: %w", err)
	}
	return nil
}

// profileView is a profile as shown: the secret masked.
type profileView struct {
	Name            string `json:"name"`
	Current         bool   `json:"current"`
	Endpoint        string `json:"endpoint"`
	AccessKeyID     string `json:"accessKeyId"`
	AccessKeySecret string `json:"accessKeySecret"`
	UserID          string `json:"userId,omitempty"`
	WorkspaceID     string `json:"workspaceId,omitempty"`
}

func viewProfile(name string, p Profile, current bool) profileView {
	return profileView{
		Name: name, Current: current, Endpoint: p.Endpoint, AccessKeyID: p.AccessKeyID,
		AccessKeySecret: mask(p.AccessKeySecret), UserID: p.UserID, WorkspaceID: p.WorkspaceID,
	}
}

func (a *app) profileFile() (string, *ProfileFile, error) {
	path, err := ProfilePath(a.env.Getenv)
	if err != nil {
		return "", nil, usagef("cannot find the profile file: %v", err)
	}
	pf, err := LoadProfiles(path)
	if err != nil {
		return "", nil, err
	}
	return path, pf, nil
}

func (a *app) profileCommand() *cobra.Command {
	cmd := group("profile", "Manage connection profiles (endpoint, access key, workspace)",
		`A profile holds a server endpoint, an access key and a default workspace.
Profiles live in $RAYFLEET_CONFIG, else ~/.rayfleet/config.json (mode 0600).
"rayfleet server" writes one at its first start.`,
		`  rayfleet profile list
  rayfleet profile set prod --endpoint https://rayfleet.example.com --access-key-id AK --access-key-secret -
  rayfleet profile use prod
  rayfleet --profile prod cluster list`)
	cmd.AddCommand(a.profileList(), a.profileShow(), a.profileUse(), a.profileSet(), a.profileDelete())
	return cmd
}

func (a *app) profileList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List profiles (* marks the current one)",
		Example: "  rayfleet profile list\n  rayfleet profile list -o json",
		Args:    exactArgs(),
		RunE: a.wrap(func(*cobra.Command, []string) error {
			path, pf, err := a.profileFile()
			if err != nil {
				return err
			}
			names := make([]string, 0, len(pf.Profiles))
			for n := range pf.Profiles {
				names = append(names, n)
			}
			sort.Strings(names)
			if a.json() {
				views := make([]profileView, 0, len(names))
				for _, n := range names {
					views = append(views, viewProfile(n, pf.Profiles[n], n == pf.Current))
				}
				return a.printValue(map[string]any{"path": path, "current": pf.Current, "profiles": views})
			}
			if len(names) == 0 {
				fmt.Fprintf(a.env.Stdout, "No profiles in %s. Start \"rayfleet server\" or run \"rayfleet profile set\".\n", path)
				return nil
			}
			t := newTable(a.env.Stdout, "CURRENT", "NAME", "ENDPOINT", "ACCESS KEY ID", "WORKSPACE")
			for _, n := range names {
				p := pf.Profiles[n]
				mark := ""
				if n == pf.Current {
					mark = "*"
				}
				t.row(mark, n, p.Endpoint, p.AccessKeyID, p.WorkspaceID)
			}
			return t.flush()
		}),
	}
}

func (a *app) profileShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show [NAME]",
		Short: "Show a profile (the current one by default), secret masked",
		Example: `  rayfleet profile show
  rayfleet profile show prod -o json`,
		Args: optionalArg,
		RunE: a.wrap(func(_ *cobra.Command, args []string) error {
			path, pf, err := a.profileFile()
			if err != nil {
				return err
			}
			name := first(a.profile, a.env.Getenv("RAYFLEET_PROFILE"), pf.Current)
			if len(args) == 1 {
				name = args[0]
			}
			if name == "" {
				return &notFoundError{msg: fmt.Sprintf("no current profile in %s; start \"rayfleet server\" or run \"rayfleet profile set\"", path)}
			}
			p, ok := pf.Profiles[name]
			if !ok {
				return &notFoundError{msg: fmt.Sprintf("profile %q not found in %s", name, path)}
			}
			v := viewProfile(name, p, name == pf.Current)
			if a.json() {
				return a.printValue(v)
			}
			t := newTable(a.env.Stdout)
			t.row("Name:", v.Name)
			t.row("Current:", yesNo(v.Current))
			t.row("Endpoint:", v.Endpoint)
			t.row("Access key id:", v.AccessKeyID)
			t.row("Access key secret:", v.AccessKeySecret)
			t.row("User id:", v.UserID)
			t.row("Workspace:", v.WorkspaceID)
			t.row("File:", path)
			return t.flush()
		}),
	}
}

func (a *app) profileUse() *cobra.Command {
	return &cobra.Command{
		Use:     "use NAME",
		Short:   "Make a profile the current one",
		Example: "  rayfleet profile use prod",
		Args:    exactArgs("NAME"),
		RunE: a.wrap(func(_ *cobra.Command, args []string) error {
			path, pf, err := a.profileFile()
			if err != nil {
				return err
			}
			name := args[0]
			p, ok := pf.Profiles[name]
			if !ok {
				return &notFoundError{msg: fmt.Sprintf("profile %q not found in %s (see \"rayfleet profile list\")", name, path)}
			}
			pf.Current = name
			if err := writeProfiles(path, pf); err != nil {
				return err
			}
			if a.json() {
				return a.printValue(viewProfile(name, p, true))
			}
			fmt.Fprintf(a.env.Stdout, "Now using profile %s (%s).\n", name, p.Endpoint)
			return nil
		}),
	}
}

func (a *app) profileSet() *cobra.Command {
	var p Profile
	cmd := &cobra.Command{
		Use:   "set NAME --endpoint E --access-key-id A --access-key-secret S [--workspace W]",
		Short: "Create or change a profile",
		Long: `Create a profile, or change the given fields of an existing one.
A new profile needs --endpoint, --access-key-id and --access-key-secret.
--access-key-secret - reads the secret from the first line of stdin, which
keeps it out of the shell history. The first profile saved becomes current.`,
		Example: `  rayfleet profile set local --endpoint 127.0.0.1:8080 --access-key-id AK --access-key-secret SECRET
  echo "$SECRET" | rayfleet profile set prod --endpoint https://rayfleet.example.com --access-key-id AK --access-key-secret -
  rayfleet profile set local --workspace w-26ca1703f6d71e6e`,
		Args: exactArgs("NAME"),
	}
	f := cmd.Flags()
	// These shadow the global --endpoint and --workspace: here they are the
	// values to store, not the ones to connect with.
	f.StringVar(&p.Endpoint, "endpoint", "", "server address, host:port or URL")
	f.StringVar(&p.AccessKeyID, "access-key-id", "", "access key id")
	f.StringVar(&p.AccessKeySecret, "access-key-secret", "", `access key secret ("-" reads it from stdin)`)
	f.StringVarP(&p.WorkspaceID, "workspace", "w", "", "default workspace id")
	f.StringVar(&p.UserID, "user-id", "", "account id (informational)")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		name := args[0]
		path, pf, err := a.profileFile()
		if err != nil {
			return err
		}
		if p.AccessKeySecret == "-" {
			line, err := bufio.NewReader(a.env.Stdin).ReadString('\n')
			if line = strings.TrimSpace(line); line == "" {
				return usagef("--access-key-secret -: no secret on stdin (%v)", err)
			}
			p.AccessKeySecret = line
		}
		cur, exists := pf.Profiles[name]
		changed := cmd.Flags().Changed
		if !exists {
			var missing []string
			for _, fl := range []string{"endpoint", "access-key-id", "access-key-secret"} {
				if !changed(fl) {
					missing = append(missing, "--"+fl)
				}
			}
			if len(missing) > 0 {
				return usagef("new profile %q needs %s", name, strings.Join(missing, ", "))
			}
		}
		for fl, set := range map[string]func(){
			"endpoint":          func() { cur.Endpoint = p.Endpoint },
			"access-key-id":     func() { cur.AccessKeyID = p.AccessKeyID },
			"access-key-secret": func() { cur.AccessKeySecret = p.AccessKeySecret },
			"workspace":         func() { cur.WorkspaceID = p.WorkspaceID },
			"user-id":           func() { cur.UserID = p.UserID },
		} {
			if changed(fl) {
				set()
			}
		}
		pf.Profiles[name] = cur
		if pf.Current == "" {
			pf.Current = name
		}
		if err := writeProfiles(path, pf); err != nil {
			return err
		}
		if a.json() {
			return a.printValue(viewProfile(name, cur, name == pf.Current))
		}
		note := ""
		if pf.Current == name {
			note = " It is the current profile."
		}
		fmt.Fprintf(a.env.Stdout, "Saved profile %s to %s.%s\n", name, path, note)
		return nil
	})
	return cmd
}

func (a *app) profileDelete() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a profile",
		Example: "  rayfleet profile delete old",
		Args:    exactArgs("NAME"),
		RunE: a.wrap(func(_ *cobra.Command, args []string) error {
			path, pf, err := a.profileFile()
			if err != nil {
				return err
			}
			name := args[0]
			if _, ok := pf.Profiles[name]; !ok {
				return &notFoundError{msg: fmt.Sprintf("profile %q not found in %s", name, path)}
			}
			delete(pf.Profiles, name)
			wasCurrent := pf.Current == name
			if wasCurrent {
				pf.Current = ""
			}
			if err := writeProfiles(path, pf); err != nil {
				return err
			}
			if a.json() {
				return a.printValue(map[string]any{"deleted": name, "current": pf.Current})
			}
			fmt.Fprintf(a.env.Stdout, "Deleted profile %s.\n", name)
			if wasCurrent {
				fmt.Fprintln(a.env.Stdout, `It was the current profile; pick another with "rayfleet profile use NAME".`)
			}
			return nil
		}),
	}
}
