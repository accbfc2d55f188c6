module github.com/assetgateway/assetgateway

go 1.26.8
