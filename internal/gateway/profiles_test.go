package gateway

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
)

// TestInferenceProfilesThroughSDK lists and gets inference profiles with the
// AWS SDK's Bedrock control-plane client, as Claude Code does in Bedrock
// mode before its first call.
func TestInferenceProfilesThroughSDK(t *testing.T) {
	e := newEnv(t, envOptions{bedrock: true})
	c := bedrock.New(bedrock.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDCLIENT", "client-secret", "")})
	ctx := context.Background()
	var all []types.InferenceProfileSummary
	p := bedrock.NewListInferenceProfilesPaginator(c, &bedrock.ListInferenceProfilesInput{
		TypeEquals: types.InferenceProfileTypeSystemDefined, MaxResults: aws.Int32(5)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, out.InferenceProfileSummaries...)
	}
	byID := map[string]types.InferenceProfileSummary{}
	for _, s := range all {
		byID[*s.InferenceProfileId] = s
	}
	sonnet, ok := byID["us.anthropic.claude-sonnet-4-5-20250929-v1:0"]
	if pages < 2 || !ok || byID["global.anthropic.claude-sonnet-4-5-20250929-v1:0"].Status != types.InferenceProfileStatusActive {
		t.Fatalf("%d pages, %d profiles: %v", pages, len(all), byID)
	}
	if _, eu := byID["eu.anthropic.claude-sonnet-4-5-20250929-v1:0"]; eu {
		t.Error("listed an eu. profile in us-east-1")
	}
	if sonnet.Type != types.InferenceProfileTypeSystemDefined || *sonnet.InferenceProfileName != "US Anthropic Claude Sonnet 4.5" ||
		*sonnet.Models[0].ModelArn != "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" {
		t.Errorf("summary %+v", sonnet)
	}

	got, err := c.GetInferenceProfile(ctx, &bedrock.GetInferenceProfileInput{InferenceProfileIdentifier: aws.String("us.anthropic.claude-sonnet-4-5-20250929-v1:0")})
	if err != nil || *got.InferenceProfileArn != *sonnet.InferenceProfileArn {
		t.Fatalf("get: %v %+v", err, got)
	}
	_, err = c.GetInferenceProfile(ctx, &bedrock.GetInferenceProfileInput{InferenceProfileIdentifier: aws.String("us.example.none")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown profile: %v", err)
	}
}
