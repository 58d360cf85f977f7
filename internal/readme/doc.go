// Package readme holds no code: its test walks README.md the way a new user
// follows it, running the examples in order against a freshly built
// credflow, a fresh HOME, the file vault and the mock provider. See
// walk_test.go for the rules the README's code blocks follow.
package readme
