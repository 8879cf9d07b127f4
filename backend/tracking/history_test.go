package tracking

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDownsampleTiny(t *testing.T) {
	pts := []Point{{Step: 0}, {Step: 1}, {Step: 2}, {Step: 3}, {Step: 4}, {Step: 5}}
	assert.Equal(t, []Point{{Step: 0}}, Downsample(pts, 1))
	assert.Equal(t, []Point{{Step: 0}, {Step: 5}}, Downsample(pts, 2))
	assert.Len(t, Downsample(pts, 3), 3)
	assert.LessOrEqual(t, len(Downsample(pts, 4)), 4)
	assert.LessOrEqual(t, len(Downsample(pts, 5)), 5)
}
