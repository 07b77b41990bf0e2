package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSentinelTLS: serve starts on a redis-sentinel:// URL with tls=true,
// reaching a sentinel and a primary that listen only on TLS, and checks
// their certificates against the system roots (here SSL_CERT_FILE, a CA of
// the test's own).
func TestSentinelTLS(t *testing.T) {
	t.Parallel()
	server := requireTool(t, "redis-server")
	dir := t.TempDir()
	ca, certFile, keyFile := writeTestCerts(t, dir)
	tlsArgs := []string{"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", ca,
		"--tls-auth-clients", "no", "--tls-replication", "yes", "--bind", "127.0.0.1", "--port", "0"}

	primaryPort, sentinelPort := freePort(t), freePort(t)
	startProcess(t, server, append([]string{"--tls-port", fmt.Sprint(primaryPort), "--dir", dir,
		"--save", "", "--appendonly", "no", "--requirepass", "hunter2"}, tlsArgs...)...)
	conf := filepath.Join(dir, "sentinel.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf("requirepass hunter3\nsentinel monitor m 127.0.0.1 %d 1\n"+
		"sentinel auth-pass m hunter2\n", primaryPort)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	startProcess(t, server, append([]string{conf, "--sentinel", "--tls-port", fmt.Sprint(sentinelPort), "--dir", dir},
		tlsArgs...)...)

	// The test trusts the CA itself, to see the sentinel up.
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(ca)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read the CA: %v", err)
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", sentinelPort), Password: "hunter3",
		TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	defer sc.Close()
	poll(t, 10*time.Second, "the sentinel knows the primary", func() (bool, error) {
		return sc.GetMasterAddrByName(context.Background(), "m").Err() == nil, nil
	})

	serve := startProc(t, "serve", map[string]string{
		"REDIS_URL": fmt.Sprintf("redis-sentinel://:hunter2@127.0.0.1:%d/0?master=m&sentinel_password=hunter3&tls=true",
			sentinelPort),
		"SSL_CERT_FILE":          ca,
		"CHAT_SDKAPPID":          e2eSDKAppID,
		"CHAT_CALLBACK_INSECURE": "true",
		"HTTP_ADDR":              "127.0.0.1:0",
	}, "serve")
	waitReady(t, serve.url("serving", "addr"))
	serve.stop(10 * time.Second)
}

// writeTestCerts writes a CA and a server certificate for 127.0.0.1
// signed by it, and returns the files: CA, certificate, key.
func writeTestCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chatsync test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{ca, "CERTIFICATE", caDER}, {cert, "CERTIFICATE", srvDER}, {key, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}
