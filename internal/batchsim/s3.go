// Package batchsim is a wire-level stand-in for what Bedrock batch
// inference runs on: S3 (github.com/johannesboyne/gofakes3, speaking the
// real S3 protocol) and Bedrock's control plane (ControlPlane: the
// model-invocation-job operations, validated as Bedrock validates them,
// each record answered by a Runner such as the simulator). The real AWS
// SDK clients talk to both over HTTP, so tests, `penny serve --simulate`
// and the batch benchmark run the engine exactly as against AWS.
package batchsim

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/spf13/afero"
)

// Region is the region the fakes' clients are configured with.
const Region = "us-east-1"

// Credentials are the static credentials the fakes' clients sign with.
var Credentials = credentials.NewStaticCredentialsProvider("AKIDPENNYBATCH", "penny-batch-secret", "")

// S3 is an in-process S3 server on a loopback port, objects in memory.
type S3 struct {
	srv *server
}

// server is an HTTP server on a loopback port. Unlike httptest.Server it
// leaves http.DefaultTransport alone when it closes: Penny's own clients
// may be using it.
type server struct {
	URL string
	hs  *http.Server
}

func serve(h http.Handler) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("batchsim: listen on a loopback port: %v", err))
	}
	s := &server{URL: "http://" + ln.Addr().String(), hs: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go s.hs.Serve(ln)
	return s
}

// Close stops the server and its connections.
func (s *server) Close() { s.hs.Close() }

// httpClient is the fakes' clients' own, so closing them touches no one
// else's connections.
func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
}

// NewS3 starts an S3 server with the given buckets; Close stops it.
func NewS3(buckets ...string) (*S3, error) {
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			return nil, err
		}
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	return &S3{srv: serve(faker.Server())}, nil
}

// NewS3Dir starts an S3 server whose objects are files under dir, so
// that large jobs do not sit in memory (the batch benchmark).
func NewS3Dir(dir string, buckets ...string) (*S3, error) {
	fs, err := s3afero.NewBasePathFs(afero.NewOsFs(), dir, s3afero.FsPathCreateAll)
	if err != nil {
		return nil, err
	}
	backend, err := s3afero.MultiBucket(fs)
	if err != nil {
		return nil, err
	}
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			return nil, err
		}
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	return &S3{srv: serve(faker.Server())}, nil
}

// URL is the server's endpoint.
func (s *S3) URL() string { return s.srv.URL }

// Close stops the server.
func (s *S3) Close() { s.srv.Close() }

// Client returns a real S3 client for the server (path-style addressing).
func (s *S3) Client() *s3.Client { return S3Client(s.srv.URL, httpClient()) }

// S3Client returns an S3 client for endpoint with path-style addressing,
// the fakes' region and credentials; hc nil means http.DefaultClient.
func S3Client(endpoint string, hc *http.Client) *s3.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return s3.New(s3.Options{Region: Region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: Credentials, HTTPClient: hc, RetryMaxAttempts: 3})
}

// CreateBucket creates a bucket through the client, as a test would.
func CreateBucket(ctx context.Context, c *s3.Client, name string) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name})
	return err
}
