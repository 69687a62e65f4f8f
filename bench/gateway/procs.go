package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// nginxConfig is a reverse proxy to upstream on listen, configured as one
// would put nginx in front of a Ray dashboard: HTTP/1.1 and keep-alive to
// the upstream, no access log (the gateway keeps none either), one worker
// per core.
func nginxConfig(dir, listen, upstream string) string {
	return `worker_processes auto;
pid ` + dir + `/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path ` + dir + `/client_body;
    proxy_temp_path ` + dir + `/proxy;
    fastcgi_temp_path ` + dir + `/fastcgi;
    uwsgi_temp_path ` + dir + `/uwsgi;
    scgi_temp_path ` + dir + `/scgi;
    keepalive_requests 1000000;
    upstream head {
        server ` + upstream + `;
        keepalive 256;
    }
    server {
        listen ` + listen + `;
        location / {
            proxy_pass http://head;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
        }
    }
}
`
}

// startNginx runs nginx in the foreground with a generated configuration
// in dir; as root, it runs as nobody.
func startNginx(ctx context.Context, bin, dir, listen, upstream string) (*benchproc.Proc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(dir, listen, upstream)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", "stderr", "-g", "daemon off;")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("nginx: find user nobody to run it unprivileged: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	p, err := benchproc.Start(ctx, "nginx", cmd, filepath.Join(filepath.Dir(dir), "nginx.log"), benchproc.Combined, nil)
	if err != nil {
		return nil, err
	}
	// nginx prints nothing when it starts well: wait for its port.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.Done():
			return nil, fmt.Errorf("nginx exited (%w); see %s", p.Err(), filepath.Join(filepath.Dir(dir), "nginx.log"))
		default:
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			return nil, fmt.Errorf("nginx did not listen on %s within 20s", listen)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// processTree returns pid and every process whose parent chain leads to it
// (nginx's workers, the rayfleet server's nodes).
func processTree(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[n] = pp
	}
	out := []int{pid}
	for n := range parent {
		for p := parent[n]; p > 1; p = parent[p] {
			if p == pid {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// treeCPU is the user+system CPU time of pid and its descendants (living
// ones; reaped children's time is in the parent's cutime, not counted).
func treeCPU(pid int) time.Duration {
	var total time.Duration
	for _, p := range processTree(pid) {
		d, err := benchproc.CPUTime(p)
		if err == nil {
			total += d
		}
	}
	return total
}
