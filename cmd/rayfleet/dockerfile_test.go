package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// This machine has no container engine, so the image is never built here.
// What can be checked without one is: the Dockerfile's build stage, run as
// written, gives a static binary (which runs on the slim base, or any);
// the flags its CMD passes exist; and the Deployment in deploy/ agrees with
// the image on ports, user and data directory.

// dockerfile is the part of the Dockerfile these tests read.
type dockerfile struct {
	buildRun []string // the RUN line that builds the binary, as the shell splits it
	cmd      []string
	expose   []int
	user     string
	env      map[string]string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := dockerfile{env: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instr, rest, _ := strings.Cut(line, " ")
		switch instr {
		case "RUN":
			if strings.Contains(rest, " go build ") {
				d.buildRun = shellFields(rest)
			}
		case "CMD":
			if err := yaml.Unmarshal([]byte(rest), &d.cmd); err != nil {
				t.Fatalf("CMD %s: %v", rest, err)
			}
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Fatalf("EXPOSE %s: %v", rest, err)
				}
				d.expose = append(d.expose, n)
			}
		case "USER":
			d.user = rest
		case "ENV":
			k, v, _ := strings.Cut(rest, "=")
			d.env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if d.buildRun == nil || d.cmd == nil || d.expose == nil || d.user == "" {
		t.Fatalf("the Dockerfile lacks a go build RUN, CMD, EXPOSE or USER: %+v", d)
	}
	return d
}

// shellFields splits s into words as sh does for the Dockerfile's simple
// RUN lines: on blanks, outside single quotes, which it removes.
func shellFields(s string) []string {
	var words []string
	var w strings.Builder
	quoted, in := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, in = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// TestDockerfileBuildsAStaticBinary runs the build stage's command as the
// Dockerfile writes it (its environment assignments, then go build), with
// only the output path moved, and checks what it made.
func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	d := readDockerfile(t)
	var env []string
	args := d.buildRun
	for len(args) > 0 && strings.Contains(args[0], "=") {
		env = append(env, args[0])
		args = args[1:]
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Fatalf("the build stage must build without cgo (the runtime image has no C toolchain's libraries beyond libc): %v", d.buildRun)
	}
	if len(args) < 2 || args[0] != "go" || args[1] != "build" {
		t.Fatalf("build RUN is not `[ENV=...] go build ...`: %v", d.buildRun)
	}
	out := filepath.Join(t.TempDir(), "rayfleet")
	args = slices.Clone(args)
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) || args[i+1] != "/out/rayfleet" {
		t.Fatalf("build RUN does not write /out/rayfleet, which the final stage copies: %v", d.buildRun)
	}
	args[i+1] = out
	build := exec.Command(args[0], args[1:]...)
	build.Dir = filepath.Join("..", "..") // WORKDIR /src holds the whole tree
	build.Env = append(os.Environ(), env...)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary has a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary links %v", libs)
	}

	// Every flag the image's CMD passes is one the server takes.
	help, _ := exec.Command(out, "server", "--help").CombinedOutput()
	if d.cmd[0] != "server" {
		t.Fatalf("CMD does not run the server: %v", d.cmd)
	}
	for _, a := range d.cmd[1:] {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			if !strings.Contains(string(help), "\n  -"+name+" ") {
				t.Errorf("CMD passes --%s, which `rayfleet server` does not list:\n%s", name, help)
			}
		}
	}
}

// TestDeploymentMatchesImage checks deploy/deployment.yaml against the
// Dockerfile: the ports it names are the image's, it runs as the image's
// user, and its data directory is the image's.
func TestDeploymentMatchesImage(t *testing.T) {
	d := readDockerfile(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict(b, &dep); err != nil {
		t.Fatal(err)
	}
	cs := dep.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers; want rayfleet alone", len(cs))
	}
	c := cs[0]
	var ports []int
	for _, p := range c.Ports {
		ports = append(ports, int(p.ContainerPort))
	}
	slices.Sort(ports)
	expose := slices.Sorted(slices.Values(d.expose))
	if !slices.Equal(ports, expose) {
		t.Errorf("container ports %v, the image exposes %v", ports, expose)
	}
	envOf := func(name string) string {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
		if i < 0 {
			t.Fatalf("the Deployment does not set %s", name)
		}
		return c.Env[i].Value
	}
	for _, name := range []string{"RAYFLEET_API_ADDR", "RAYFLEET_GATEWAY_LISTEN", "RAYFLEET_GATEWAY_GRPC_LISTEN"} {
		addr := envOf(name)
		_, port, _ := strings.Cut(addr, ":")
		if n, err := strconv.Atoi(port); err != nil || !slices.Contains(expose, n) {
			t.Errorf("%s=%s listens on a port the image does not expose (%v)", name, addr, expose)
		}
	}
	if got, want := envOf("RAYFLEET_DATA_DIR"), d.env["RAYFLEET_DATA_DIR"]; got != want {
		t.Errorf("the Deployment's data dir %s, the image's %s", got, want)
	}
	uid, _, _ := strings.Cut(d.user, ":")
	sc := dep.Spec.Template.Spec.SecurityContext
	if sc == nil || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid {
		t.Errorf("the pod's runAsUser is not the image's USER %s", d.user)
	}
	if len(c.Args) == 0 || c.Args[0] != "server" {
		t.Errorf("the container's args %v do not run the server", c.Args)
	}
}
