package table

import "sync"

// Collect reads a whole table into memory for a reader that needs every
// value (training, a comparison): read runs the pass with the hooks it is
// given (Read or ReadFile), keep makes one T of each row, and the Ts come
// back in file order although workers parse chunks in any order.
func Collect[T any](read func(Hooks) (*Result, error), keep func(cols []Column, r *Row) (T, error)) (*Result, []T, error) {
	var mu sync.Mutex
	var sinks []*collector[T]
	res, err := read(Hooks{NewSink: func(cols []Column) Sink {
		s := &collector[T]{cols: cols, keep: keep, chunks: map[int][]T{}}
		mu.Lock()
		sinks = append(sinks, s)
		mu.Unlock()
		return s
	}})
	if err != nil {
		return nil, nil, err
	}
	all := map[int][]T{}
	for _, s := range sinks {
		for k, rows := range s.chunks {
			all[k] = rows
		}
	}
	out := make([]T, 0, res.Rows)
	for k := 0; len(all) > 0; k++ { // chunks are numbered in file order
		out = append(out, all[k]...)
		delete(all, k)
	}
	return res, out, nil
}

// collector keeps one worker's rows, by chunk.
type collector[T any] struct {
	cols   []Column
	keep   func([]Column, *Row) (T, error)
	chunks map[int][]T
}

func (c *collector[T]) Row(r *Row) error {
	v, err := c.keep(c.cols, r)
	if err != nil {
		return err
	}
	c.chunks[r.Chunk] = append(c.chunks[r.Chunk], v)
	return nil
}
