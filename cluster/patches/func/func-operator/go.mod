// A stand-in for github.com/functions-dev/func-operator v0.2.1, which the Go module proxy here refuses
// (cluster/patches/README.md). Written for this repo, not upstream code.
module github.com/functions-dev/func-operator

go 1.25

require (
	k8s.io/api v0.35.7
	k8s.io/apimachinery v0.35.7
)
