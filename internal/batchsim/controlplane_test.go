package batchsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/penny-gateway/penny/internal/batch"
	"github.com/penny-gateway/penny/internal/batchsim"
	"github.com/penny-gateway/penny/internal/llm"
)

func create(role, name, input string) *bedrock.CreateModelInvocationJobInput {
	return &bedrock.CreateModelInvocationJobInput{JobName: aws.String(name), RoleArn: aws.String(role), ModelId: aws.String("amazon.nova-micro-v1:0"),
		ClientRequestToken: aws.String("tok1"), ModelInvocationType: btypes.ModelInvocationTypeConverse,
		InputDataConfig:  &btypes.ModelInvocationJobInputDataConfigMemberS3InputDataConfig{Value: btypes.ModelInvocationJobS3InputDataConfig{S3Uri: aws.String(input)}},
		OutputDataConfig: &btypes.ModelInvocationJobOutputDataConfigMemberS3OutputDataConfig{Value: btypes.ModelInvocationJobS3OutputDataConfig{S3Uri: aws.String("s3://jobs/out/")}},
	}
}

// TestControlPlane drives the fake with the real Bedrock and S3 clients:
// validation as Bedrock does it, an idempotent client token, the status
// sequence, and the output and manifest Bedrock writes, tool definitions
// refused in Converse jobs.
func TestControlPlane(t *testing.T) {
	ctx := context.Background()
	fs3, err := batchsim.NewS3("jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer fs3.Close()
	s3c := fs3.Client()
	cp := batchsim.NewControlPlane(batchsim.Options{S3: s3c, Run: func(_ context.Context, model string, req *llm.Request) (*llm.Response, error) {
		return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{llm.TextBlock("ok " + model)}},
			StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 5, OutputTokens: 2}}, nil
	}})
	defer cp.Close()
	bc := cp.Client()
	input := `{"recordId":"r1","modelInput":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}
{"recordId":"r2","modelInput":{"messages":[{"role":"user","content":[{"text":"hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"json":{"type":"object"}}}}]}}}
`
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("jobs"), Key: aws.String("in/records.jsonl"), Body: strings.NewReader(input)}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*bedrock.CreateModelInvocationJobInput{
		create("not-a-role", "job1", "s3://jobs/in/records.jsonl"),
		create("arn:aws:iam::111122223333:role/r", "bad name!", "s3://jobs/in/records.jsonl"),
		create("arn:aws:iam::111122223333:role/r", "job1", "s3://jobs/in/missing.jsonl"),
		create("arn:aws:iam::111122223333:role/r", "job1", "https://jobs/in/records.jsonl"),
	} {
		var ve *btypes.ValidationException
		if _, err := bc.CreateModelInvocationJob(ctx, bad); !errors.As(err, &ve) {
			t.Errorf("%s %s %s: %v, want a ValidationException", *bad.RoleArn, *bad.JobName, *bad.InputDataConfig.(*btypes.ModelInvocationJobInputDataConfigMemberS3InputDataConfig).Value.S3Uri, err)
		}
	}
	in := create("arn:aws:iam::111122223333:role/r", "job1", "s3://jobs/in/records.jsonl")
	out, err := bc.CreateModelInvocationJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := bc.CreateModelInvocationJob(ctx, in)
	if err != nil || *again.JobArn != *out.JobArn || cp.Creates() != 1 {
		t.Fatalf("the same client token made another job: %v %v", again, err)
	}
	var seen []string
	for range 1000 {
		got, err := bc.GetModelInvocationJob(ctx, &bedrock.GetModelInvocationJobInput{JobIdentifier: out.JobArn})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != string(got.Status) {
			seen = append(seen, string(got.Status))
		}
		if got.Status == btypes.ModelInvocationJobStatusPartiallyCompleted {
			if *got.TotalRecordCount != 2 || *got.SuccessRecordCount != 1 || *got.ErrorRecordCount != 1 {
				t.Errorf("counts %d %d %d", *got.TotalRecordCount, *got.SuccessRecordCount, *got.ErrorRecordCount)
			}
			break
		}
	}
	if strings.Join(seen, ",") != "Submitted,Validating,Scheduled,InProgress,PartiallyCompleted" {
		t.Errorf("statuses %v", seen)
	}
	id := (*out.JobArn)[strings.LastIndexByte(*out.JobArn, '/')+1:]
	read := func(key string) []byte {
		o, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("jobs"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Body.Close()
		b, _ := io.ReadAll(o.Body)
		return b
	}
	var m batch.Manifest
	json.Unmarshal(read("out/"+id+"/manifest.json.out"), &m)
	if m.TotalRecordCount != 2 || m.ProcessedRecordCount != 2 || m.InputTokenCount != 5 || m.OutputTokenCount != 2 {
		t.Errorf("manifest %+v", m)
	}
	lines := strings.Split(strings.TrimSpace(string(read("out/"+id+"/records.jsonl.out"))), "\n")
	recs := map[string]batch.OutputRecord{}
	for _, l := range lines {
		var r batch.OutputRecord
		json.Unmarshal([]byte(l), &r)
		recs[r.RecordID] = r
	}
	if r := recs["r1"]; !strings.Contains(string(r.ModelOutput), "ok amazon.nova-micro-v1:0") || len(r.ModelInput) == 0 || r.Error != nil {
		t.Errorf("r1: %+v", r)
	}
	if r := recs["r2"]; r.Error == nil || r.Error.Status() != 400 || !strings.Contains(r.Error.ErrorMessage, "Tool use") {
		t.Errorf("r2 (tools in a Converse job): %+v", r)
	}
	var nf *btypes.ResourceNotFoundException
	if _, err := bc.GetModelInvocationJob(ctx, &bedrock.GetModelInvocationJobInput{JobIdentifier: aws.String("arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/nope")}); !errors.As(err, &nf) {
		t.Errorf("unknown job: %v", err)
	}
}
