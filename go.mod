module github.com/sdim-sync/sdim-sync

go 1.26.0

require (
	github.com/evanphx/json-patch/v5 v5.9.11 // indirect
	golang.org/x/time v0.16.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
