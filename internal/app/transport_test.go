package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "penny test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestHTTP2 serves HTTP/2 with prior knowledge on the plain listener (as the
// AWS SDK for JavaScript speaks it) and h2 by ALPN with TLS, beside
// HTTP/1.1, streams included, and records every request.
func TestHTTP2(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	h2c := func() *http.Client {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true) // HTTP/2 only: prior knowledge, no upgrade
		return &http.Client{Transport: &http.Transport{Protocols: &p}}
	}
	h2tls := func() *http.Client {
		var p http.Protocols
		p.SetHTTP2(true) // HTTP/2 only, negotiated by ALPN
		return &http.Client{Transport: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	h1 := func() *http.Client {
		var p http.Protocols
		p.SetHTTP1(true)
		return &http.Client{Transport: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	for _, tc := range []struct {
		name   string
		tls    bool
		client func() *http.Client
		proto  int
	}{
		{"h2c", false, h2c, 2},
		{"h2 over TLS", true, h2tls, 2},
		{"HTTP/1.1 over TLS", true, h1, 1},
		{"HTTP/1.1", false, h1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := simConfig(t, 0)
			if tc.tls {
				cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
			}
			a := startApp(t, cfg)
			if tc.tls != strings.HasPrefix(a.URL(), "https://") {
				t.Fatalf("URL %s", a.URL())
			}
			client := tc.client()
			for _, stream := range []bool{false, true} {
				body := `{"model":"nova-micro","messages":[{"role":"user","content":"hi"}]}`
				if stream {
					body = `{"model":"nova-micro","stream":true,"messages":[{"role":"user","content":"hi"}]}`
				}
				resp, err := client.Post(a.URL()+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.ProtoMajor != tc.proto {
					t.Fatalf("stream %v: %s %s %s", stream, resp.Proto, resp.Status, b)
				}
				if stream && (!strings.HasSuffix(string(b), "data: [DONE]\n\n") || resp.Trailer.Get("X-Penny-Cost-Usd") == "") {
					t.Errorf("stream over %s: trailer %v body %q", resp.Proto, resp.Trailer, b)
				}
				rec := record(t, a, resp.Header.Get("X-Penny-Request-Id"))
				if rec.Stream != stream || rec.Cost <= 0 || rec.OutputTokens == 0 {
					t.Errorf("ledger %+v", rec)
				}
			}
			// The AWS SDK over the same transport, streamed.
			sdk := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(a.URL()),
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), HTTPClient: client, RetryMaxAttempts: 1})
			out, err := sdk.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String("nova-micro"),
				Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}}})
			if err != nil {
				t.Fatal(err)
			}
			var usage *types.TokenUsage
			for ev := range out.GetStream().Events() {
				if m, ok := ev.(*types.ConverseStreamOutputMemberMetadata); ok {
					usage = m.Value.Usage
				}
			}
			if err := out.GetStream().Close(); err != nil || usage == nil || aws.ToInt32(usage.OutputTokens) == 0 {
				t.Errorf("ConverseStream: %v usage %+v", err, usage)
			}
		})
	}
}
