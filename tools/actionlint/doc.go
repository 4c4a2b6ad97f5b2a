// Package actionlint pins actionlint, the linter of the GitHub Actions
// workflows that `make actionlint` builds into .tools/bin. It has a module
// of its own, apart from ../go.mod: actionlint v1.7.12 needs
// go.yaml.in/yaml/v4 v4.0.0-rc.3, and gosec, in golangci-lint, needs rc.6,
// whose parser API actionlint does not compile against.
package actionlint
