package bedrocktest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// Test credentials the Client signs with; any credentials are accepted.
const (
	AccessKeyID     = "AKIDBEDROCKTEST"
	SecretAccessKey = "bedrocktest-secret"
	Region          = "us-east-1"
)

// Client returns a real AWS SDK Bedrock runtime client pointed at the
// server: static credentials, region us-east-1, no retries. It ignores
// AWS_BEARER_TOKEN_BEDROCK, which would otherwise switch the SDK to bearer
// auth.
func (s *Server) Client() *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:           Region,
		BaseEndpoint:     aws.String(s.URL()),
		Credentials:      credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	}, func(o *bedrockruntime.Options) {
		o.BearerAuthTokenProvider = nil
		o.AuthSchemePreference = nil
	})
}
