package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// metricsToken reads the token /metrics asks for from the configured file,
// or from <data-dir>/metrics-token, which the first start makes (256
// random bits, hex, mode 0600). Prometheus sends it with
// authorization: {credentials_file: <that file>}.
func metricsToken(cfg Config) (string, error) {
	path := cfg.MetricsTokenFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "metrics-token")
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		if cfg.MetricsTokenFile != "" {
			return "", fmt.Errorf("metrics token file %s is empty", path)
		}
	case !errors.Is(err, os.ErrNotExist) || cfg.MetricsTokenFile != "":
		return "", fmt.Errorf("read the metrics token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the metrics token: %w", err)
	}
	return tok, nil
}
