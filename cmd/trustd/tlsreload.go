package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trustledger/trustledger/cluster"
)

// certReloader serves the operator's certificate (--tls-cert-file,
// --tls-key-file) to the API's handshakes and reloads it without a
// restart: on SIGHUP, and when either file changes (checked every
// --reload-interval). A new pair that does not load, or that the node
// refuses (another node id, another CA), is logged and the old one kept.
type certReloader struct {
	certFile, keyFile string
	every             time.Duration
	cur               atomic.Pointer[tls.Certificate]
	stamp             string
}

func newCertReloader(certFile, keyFile string, every time.Duration) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, every: every}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cur.Store(&cert)
	r.stamp = r.filesStamp()
	return r, nil
}

func (r *certReloader) certificate() tls.Certificate { return *r.cur.Load() }

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// filesStamp identifies the files' current contents by size and
// modification time.
func (r *certReloader) filesStamp() string { return filesStamp(r.certFile, r.keyFile) }

func filesStamp(files ...string) string {
	s := ""
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil { // #nosec G703 -- the operator names the files
			s += fmt.Sprintf("%d:%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return s
}

// reload loads the files (when they changed, or always with force) and
// hands the pair to accept (the node's check) before serving it.
func (r *certReloader) reload(force bool, accept func(tls.Certificate) error, log *slog.Logger) {
	stamp := r.filesStamp()
	if !force && stamp == r.stamp {
		return
	}
	r.stamp = stamp
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err == nil {
		err = accept(cert)
	}
	if err != nil {
		log.Error("the TLS certificate was not reloaded; the previous one stays in use", "cert_file", r.certFile, "error", err)
		return
	}
	r.cur.Store(&cert)
	log.Info("reloaded the TLS certificate", "cert_file", r.certFile)
}

// run reloads on SIGHUP and on file changes until ctx ends.
func (r *certReloader) run(ctx context.Context, accept func(tls.Certificate) error, log *slog.Logger) {
	runReloads(ctx, r.every, func(force bool) { r.reload(force, accept, log) })
}

// runReloads calls reload(true) on SIGHUP and reload(false) every every
// (never when 0) until ctx ends.
func runReloads(ctx context.Context, every time.Duration, reload func(force bool)) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(true)
		case <-tick:
			reload(false)
		}
	}
}

// keyReloader reloads --encryption-key-file into the node (cluster.Node.
// ReloadEncryptionKeys) on SIGHUP and when the file changes; a file that
// does not load, or that the node refuses (a key still in use missing), is
// logged and the keys in use stay.
type keyReloader struct {
	cfg   config
	stamp string
}

func (r *keyReloader) reload(force bool, node *cluster.Node, log *slog.Logger) {
	stamp := filesStamp(r.cfg.EncryptionKeyFile)
	if !force && stamp == r.stamp {
		return
	}
	r.stamp = stamp
	keys, err := r.cfg.encryptionKeys()
	if err == nil {
		err = node.ReloadEncryptionKeys(keys)
	}
	if err != nil {
		log.Error("the encryption keys were not reloaded; the previous ones stay in use", "key_file", r.cfg.EncryptionKeyFile, "error", err)
	}
}
