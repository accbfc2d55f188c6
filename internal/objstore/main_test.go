package objstore

import (
	"testing"

	"github.com/assetgateway/assetgateway/internal/testenv"
)

// TestMain stops the shared S3 servers (MinIO, versitygw) when the package's tests end.
func TestMain(m *testing.M) { testenv.Main(m) }
