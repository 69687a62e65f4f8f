package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// certFiles serves a certificate and key from files, read again when
// either changes (a renewal needs no restart): every handshake, at most once
// a second, looks at the files' modification times. A pair that does not
// load (a renewal half written) keeps the last good one in use, and says
// so in the log.
type certFiles struct {
	certPath, keyPath string
	log               *slog.Logger
	now               func() time.Time

	mu              sync.Mutex
	cur             *tls.Certificate
	certMod, keyMod time.Time
	checked         time.Time
	failed          string // the last reload error logged
}

// newCertFiles loads the pair once: a start with files that do not load
// fails, naming them.
func newCertFiles(certPath, keyPath string, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{certPath: certPath, keyPath: keyPath, log: log, now: time.Now}
	if err := c.reload(); err != nil {
		return nil, err
	}
	c.checked = c.now()
	return c, nil
}

func (c *certFiles) reload() error {
	cs, err := os.Stat(c.certPath)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	ks, err := os.Stat(c.keyPath)
	if err != nil {
		return fmt.Errorf("TLS key: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", c.certPath, c.keyPath, err)
	}
	c.cur, c.certMod, c.keyMod = &pair, cs.ModTime(), ks.ModTime()
	return nil
}

// certificate is tls.Config.GetCertificate.
func (c *certFiles) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.checked) >= time.Second || now.Before(c.checked) {
		c.checked = now
		cs, err1 := os.Stat(c.certPath)
		ks, err2 := os.Stat(c.keyPath)
		changed := err1 != nil || err2 != nil || !cs.ModTime().Equal(c.certMod) || !ks.ModTime().Equal(c.keyMod)
		if changed {
			if err := c.reload(); err != nil {
				if msg := err.Error(); msg != c.failed {
					c.log.Warn("TLS: the certificate files changed but do not load; serving the previous certificate", "err", msg)
					c.failed = msg
				}
			} else {
				c.failed = ""
				c.log.Info("TLS: loaded the renewed certificate", "cert", c.certPath)
			}
		}
	}
	return c.cur, nil
}

// listener wraps l in TLS with this certificate, offering protos by ALPN.
func (c *certFiles) listener(l net.Listener, protos ...string) net.Listener {
	return tls.NewListener(l, &tls.Config{GetCertificate: c.certificate, MinVersion: tls.VersionTLS12, NextProtos: protos})
}

// serverCerts is the configured certificate, nil without TLS.
func serverCerts(cfg Config, log *slog.Logger) (*certFiles, error) {
	if cfg.TLS.CertFile == "" && cfg.TLS.KeyFile == "" {
		return nil, nil
	}
	if cfg.TLS.CertFile == "" || cfg.TLS.KeyFile == "" {
		return nil, errors.New("TLS needs both --tls-cert-file and --tls-key-file")
	}
	return newCertFiles(cfg.TLS.CertFile, cfg.TLS.KeyFile, log)
}
