package client

// For the tests in package client_test (see fakenode_test.go).
var (
	Retryable     = retryable
	ServeForTest  = newServer
	ClientForTest = newClient
)
