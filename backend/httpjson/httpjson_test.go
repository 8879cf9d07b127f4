package httpjson

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	Write(w, 201, map[string]int{"n": 1})
	assert.Equal(t, 201, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "{\"n\":1}\n", w.Body.String())

	// The same bytes the map the callers used to build gave.
	w = httptest.NewRecorder()
	WriteMLflowError(w, 400, "BAD_REQUEST", "The body could not be read.")
	assert.Equal(t, 400, w.Code)
	assert.Equal(t, "{\"error_code\":\"BAD_REQUEST\",\"message\":\"The body could not be read.\"}\n", w.Body.String())
}
