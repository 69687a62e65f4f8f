package httpapi

import (
	"net/http"
	"net/url"
)

// RPCParams exposes to the tests the parameters an RPC operation sees.
func RPCParams(r *http.Request, body []byte) url.Values {
	p, err := params(&request{Request: r, body: body})
	if err != nil {
		return nil
	}
	return p.Values
}
