// Package diskspace measures disk space: what a directory tree takes and
// what its filesystem has free. Tree sizes come two ways because callers
// mean two things: Size is the bytes the files hold (what deleting a run's
// artifacts reports as freed, matching the sizes the UI lists), Allocated
// the blocks they really occupy (the data folder, where Badger's
// preallocated sparse files would otherwise overstate it).
package diskspace
