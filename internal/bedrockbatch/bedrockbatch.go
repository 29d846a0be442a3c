// Package bedrockbatch runs Penny's batch jobs on Amazon Bedrock with the
// AWS SDK: job files in S3 (service/s3) and jobs on Bedrock's control
// plane (service/bedrock: CreateModelInvocationJob,
// GetModelInvocationJob, StopModelInvocationJob). It implements
// batch.Jobs.
package bedrockbatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	stypes "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/llm"
)

// Jobs is batch.Jobs on S3 and Bedrock's control plane.
type Jobs struct {
	s3      *s3.Client
	bedrock *bedrock.Client
	// kms, if set, encrypts uploads with this KMS key (SSE-KMS).
	kms string
}

var _ batch.Jobs = (*Jobs)(nil)

// New returns Jobs over the two clients; kmsKeyID, if set, encrypts the
// input files Penny writes.
func New(s3c *s3.Client, bc *bedrock.Client, kmsKeyID string) *Jobs {
	return &Jobs{s3: s3c, bedrock: bc, kms: kmsKeyID}
}

// ParseS3URI splits s3://bucket/key into bucket and key.
func ParseS3URI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URI", uri)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", uri)
	}
	return bucket, key, nil
}

// Upload implements batch.Jobs.
func (j *Jobs) Upload(ctx context.Context, uri string, r io.ReadSeeker, size int64) error {
	bucket, key, err := ParseS3URI(uri)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: r, ContentLength: aws.Int64(size), ContentType: aws.String("application/jsonl")}
	if j.kms != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = stypes.ServerSideEncryptionAwsKms, &j.kms
	}
	_, err = j.s3.PutObject(ctx, in)
	return mapError(err)
}

// List implements batch.Jobs.
func (j *Jobs) List(ctx context.Context, prefix string) ([]string, error) {
	bucket, key, err := ParseS3URI(prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	p := s3.NewListObjectsV2Paginator(j.s3, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapError(err)
		}
		for _, o := range page.Contents {
			out = append(out, "s3://"+bucket+"/"+aws.ToString(o.Key))
		}
	}
	return out, nil
}

// Open implements batch.Jobs.
func (j *Jobs) Open(ctx context.Context, uri string) (io.ReadCloser, error) {
	bucket, key, err := ParseS3URI(uri)
	if err != nil {
		return nil, err
	}
	out, err := j.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, mapError(err)
	}
	return out.Body, nil
}

// Create implements batch.Jobs.
func (j *Jobs) Create(ctx context.Context, s batch.JobSpec) (string, error) {
	in := &bedrock.CreateModelInvocationJobInput{
		JobName: &s.Name, ClientRequestToken: &s.Token, ModelId: &s.Model, RoleArn: &s.RoleARN,
		ModelInvocationType: btypes.ModelInvocationType(s.Shape),
		InputDataConfig: &btypes.ModelInvocationJobInputDataConfigMemberS3InputDataConfig{Value: btypes.ModelInvocationJobS3InputDataConfig{
			S3Uri: &s.InputURI, S3InputFormat: btypes.S3InputFormatJsonl}},
		OutputDataConfig: &btypes.ModelInvocationJobOutputDataConfigMemberS3OutputDataConfig{Value: btypes.ModelInvocationJobS3OutputDataConfig{
			S3Uri: &s.OutputURI}},
		Tags: []btypes.Tag{{Key: aws.String("penny-job"), Value: &s.Token}},
	}
	if s.KMSKeyID != "" {
		cfg := in.OutputDataConfig.(*btypes.ModelInvocationJobOutputDataConfigMemberS3OutputDataConfig)
		cfg.Value.S3EncryptionKeyId = &s.KMSKeyID
	}
	if s.TimeoutHours > 0 {
		in.TimeoutDurationInHours = aws.Int32(int32(s.TimeoutHours))
	}
	out, err := j.bedrock.CreateModelInvocationJob(ctx, in)
	if err != nil {
		return "", mapError(err)
	}
	return aws.ToString(out.JobArn), nil
}

// Status implements batch.Jobs.
func (j *Jobs) Status(ctx context.Context, arn string) (batch.JobStatus, error) {
	out, err := j.bedrock.GetModelInvocationJob(ctx, &bedrock.GetModelInvocationJobInput{JobIdentifier: &arn})
	if err != nil {
		return batch.JobStatus{}, mapError(err)
	}
	return batch.JobStatus{Status: string(out.Status), Message: aws.ToString(out.Message)}, nil
}

// Stop implements batch.Jobs.
func (j *Jobs) Stop(ctx context.Context, arn string) error {
	_, err := j.bedrock.StopModelInvocationJob(ctx, &bedrock.StopModelInvocationJobInput{JobIdentifier: &arn})
	return mapError(err)
}

// JobID is the last part of a job ARN: the folder Bedrock writes the
// job's outputs in, under the output URI.
func JobID(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return url.PathEscape(arn)
}

// mapError gives AWS errors an llm kind, so the engine's log says what
// went wrong the way the rest of Penny does.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return llm.Errorf(llm.KindUnavailable, "%w", err)
	}
	kind := llm.KindInternal
	switch ae.ErrorCode() {
	case "ValidationException", "InvalidRequest", "InvalidArgument":
		kind = llm.KindValidation
	case "AccessDeniedException", "AccessDenied":
		kind = llm.KindForbidden
	case "ResourceNotFoundException", "NoSuchKey", "NoSuchBucket":
		kind = llm.KindNotFound
	case "ThrottlingException", "SlowDown", "ServiceQuotaExceededException":
		kind = llm.KindThrottled
	case "ServiceUnavailableException", "InternalServerException", "InternalError":
		kind = llm.KindUnavailable
	}
	return &llm.Error{Kind: kind, Upstream: ae.ErrorCode(), Message: ae.ErrorMessage(), Err: err}
}
