//go:build tools

// This file pins the modules the packages are about to import, so that go.mod stays stable
// while they are written in parallel. It is removed once every module is imported for real.
package tools

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/aws/smithy-go"
	_ "github.com/google/uuid"
	_ "github.com/redis/go-redis/v9"
	_ "gopkg.in/yaml.v3"
)
