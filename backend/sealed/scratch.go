package sealed

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ScratchRoot is where plaintext copies of sealed files go while a reader
// that needs a path (a container's bind mount, a table or model loader)
// uses them: outside the data dir, private to this user (0700).
func ScratchRoot() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("tern-plain-%d", os.Getuid()))
}

// Cache holds plaintext copies for the life of one process: made once on
// first use, all removed by Close, and swept at the next start if the
// process died first. Safe for concurrent use.
type Cache struct {
	dir  string
	mu   sync.Mutex
	made map[string]string
	busy map[string]*sync.Mutex
}

// NewCache makes a cache named name (one per user of it) for this
// process, removing those of processes that no longer run.
func NewCache(name string) (*Cache, error) {
	root := ScratchRoot()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), name+"-")
		if !ok {
			continue
		}
		if pid, err := strconv.Atoi(rest); err == nil && !alive(pid) {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	dir := filepath.Join(root, fmt.Sprintf("%s-%d", name, os.Getpid()))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Cache{dir: dir, made: map[string]string{}, busy: map[string]*sync.Mutex{}}, nil
}

// Get returns the path of the copy named key, calling fill(path) to make
// it the first time; a failed fill leaves nothing and is tried again next
// time.
func (c *Cache) Get(key string, fill func(path string) error) (string, error) {
	c.mu.Lock()
	if p, ok := c.made[key]; ok {
		c.mu.Unlock()
		return p, nil
	}
	m := c.busy[key]
	if m == nil {
		m = &sync.Mutex{}
		c.busy[key] = m
	}
	c.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	c.mu.Lock()
	p, ok := c.made[key]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p = filepath.Join(c.dir, fmt.Sprintf("%x", []byte(key)))
	tmp := p + ".part"
	os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	c.mu.Lock()
	c.made[key] = p
	c.mu.Unlock()
	return p, nil
}

// Dir is the cache's folder.
func (c *Cache) Dir() string { return c.dir }

// Close removes every copy.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.made = map[string]string{}
	return os.RemoveAll(c.dir)
}
