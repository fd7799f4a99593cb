package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/workflow-runtime/workflow-runtime/pkg/auth"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// dockerStage is one FROM ... stage of the Dockerfile: its instructions,
// each as its keyword and the rest of the line.
type dockerStage struct {
	from         string
	instructions [][2]string
}

func parseDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	var stages []dockerStage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keyword, rest, _ := strings.Cut(line, " ")
		keyword = strings.ToUpper(keyword)
		if keyword == "FROM" {
			stages = append(stages, dockerStage{from: rest})
			continue
		}
		require.NotEmpty(t, stages, "%s before the first FROM", keyword)
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, [2]string{keyword, rest})
	}
	require.NoError(t, sc.Err())
	return stages
}

// TestImageRootfs: `make image-rootfs` builds, without Docker, the file tree
// the image holds, and the Dockerfile builds the image with that same target
// and copies its tree whole; so the tree below is the image's own files.
func TestImageRootfs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the release binaries")
	}
	stages := parseDockerfile(t)
	require.Len(t, stages, 2, "a build stage and a final stage")
	build, final := stages[0], stages[1]
	require.True(t, strings.HasSuffix(build.from, " AS build"), "the first stage is named build: %q", build.from)
	require.Contains(t, build.instructions, [2]string{"ARG", "VERSION=dev"}, "the version is a build argument")
	require.Contains(t, build.instructions, [2]string{"RUN", "make image-rootfs VERSION=${VERSION} ROOTFS=/rootfs"})

	var copies []string
	for _, in := range final.instructions {
		switch in[0] {
		case "COPY", "ADD":
			copies = append(copies, in[1])
		case "RUN":
			t.Errorf("the final stage runs %q: distroless has no shell, and the image must hold only the tree", in[1])
		case "HEALTHCHECK":
			t.Error("HEALTHCHECK in the image: Kubernetes probes do that")
		}
	}
	require.Equal(t, []string{"--from=build /rootfs/ /"}, copies, "the final stage copies the image-rootfs tree and nothing else")
	require.Contains(t, final.instructions, [2]string{"USER", "nonroot:nonroot"})
	require.Contains(t, final.instructions, [2]string{"ENTRYPOINT", `["/usr/local/bin/workflow-runtime"]`})

	rootfs := t.TempDir()
	buildCmd := exec.Command("make", "--no-print-directory", "image-rootfs", "ROOTFS="+rootfs, "VERSION=v0.0.0-image-test")
	buildCmd.Dir = repoRoot
	out, err := buildCmd.CombinedOutput()
	require.NoError(t, err, "make image-rootfs:\n%s", out)

	var files []string
	require.NoError(t, filepath.WalkDir(rootfs, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(rootfs, path)
			files = append(files, rel)
		}
		return err
	}))
	slices.Sort(files)
	require.Equal(t, []string{"usr/local/bin/engine-sim", "usr/local/bin/workflow-runtime"}, files)
	for _, f := range files {
		requireStatic(t, filepath.Join(rootfs, f))
	}
	got, err := exec.Command(filepath.Join(rootfs, "usr/local/bin/workflow-runtime"), "version").Output()
	require.NoError(t, err)
	require.Contains(t, string(got), "v0.0.0-image-test", "the build argument reaches the binary")

	checkCompose(t, files)
}

// requireStatic fails unless path is an executable that needs no dynamic
// loader or shared library: the final image has neither.
func requireStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "%s asks for a dynamic loader", path)
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs, "%s links shared libraries", path)
}

// checkCompose: the compose example builds its images from this Dockerfile
// and starts binaries the image holds, two replicas against one engine.
func checkCompose(t *testing.T, files []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "examples/compose/docker-compose.yml"))
	require.NoError(t, err)
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context string `yaml:"context"`
			} `yaml:"build"`
			Entrypoint  []string          `yaml:"entrypoint"`
			Environment map[string]string `yaml:"environment"`
			Command     []string          `yaml:"command"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(data, &compose))
	replicas := 0
	for name, s := range compose.Services {
		if s.Build.Context != "" {
			require.Equal(t, "../..", s.Build.Context, "%s builds from the repository's Dockerfile", name)
		}
		for _, bin := range s.Entrypoint[:min(1, len(s.Entrypoint))] {
			require.Contains(t, files, strings.TrimPrefix(bin, "/"), "%s runs a binary the image does not hold", name)
		}
		if s.Environment["WFR_DATABASE_URL"] != "" {
			replicas++
			require.Equal(t, "engine-sim:50051", s.Environment["WFR_ENGINE_ADDR"], "%s talks to the compose engine", name)
			require.NotEmpty(t, s.Environment["WFR_REDIS_URL"], "%s: replicas share locks through Redis", name)
		}
	}
	require.Equal(t, 2, replicas, "runtime replicas in the compose example")

	// The gateway calls with a token that the replicas give the role
	// trigger, and the replicas require tokens.
	gw, ok := compose.Services["gateway"]
	require.True(t, ok, "the compose example has an API Gateway")
	require.Contains(t, gw.Command, "./examples/gateway/cmd/gateway")
	token := gw.Environment["WFR_TOKEN"]
	require.NotEmpty(t, token, "the gateway sends a token")
	for _, name := range []string{"runtime-1", "runtime-2"} {
		entries, err := auth.ParseTokens(compose.Services[name].Environment["WFR_AUTH_TOKENS"])
		require.NoError(t, err, name)
		tokens, err := auth.NewTokens(entries...)
		require.NoError(t, err, name)
		id, ok := tokens.Lookup(token)
		require.True(t, ok, "%s does not accept the gateway's token", name)
		require.Equal(t, auth.RoleTrigger, id.Role, "%s: the gateway's token has the role trigger", name)
	}
}
