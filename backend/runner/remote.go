package runner

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
)

// remoteUID is the user a job on another engine runs as: the laptop's uid
// means nothing there.
const remoteUID = 65532

// jobVolume is the volume that holds a remote job's /tern.
func jobVolume(jobID string) string { return "tern-job-" + jobID }

// copiesOut is a process whose outputs are not on this machine until they
// are copied back into dir.
type copiesOut interface {
	copyOut(ctx context.Context, dir string) error
}

// startRemote runs a job on another machine's engine. Nothing of the
// laptop is bind-mounted there: the job gets a volume at /tern, and the
// dataset, parameters and read settings are copied into it before the
// container starts (the engine accepts a copy into a read-only root only
// inside a writable volume, so it is one read-write volume rather than a
// read-only data mount). The outputs are copied back when the job ends and
// the volume is removed with the container.
func (d *dockerEngine) startRemote(ctx context.Context, j *Job, w workdir, img string) (process, error) {
	res := j.Spec.Resources.withDefaults()
	dataTarget := "/tern/data/" + filepath.Base(j.Spec.DataPath)
	spec := d.spec(j, img, fmt.Sprintf("%d:%d", remoteUID, remoteUID), dataTarget, res)
	vol := jobVolume(j.ID)
	spec.Volumes = map[string]string{vol: "/tern"}
	// A container or volume of this name can only be a leftover of this
	// same job (Tern quit between starting it and recording it).
	_ = d.api.Remove(ctx, spec.Name)
	_ = d.api.RemoveVolume(ctx, vol)
	if err := d.api.CreateVolume(ctx, vol, d.labels(j)); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Engine %q could not make the job's volume: %v", d.remote, err)
	}
	p := &remoteProc{dockerProc: &dockerProc{api: d.api, after: d.after}, volume: vol, engine: d.remote}
	id, err := d.api.Create(ctx, spec)
	if err != nil {
		rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_ = d.api.Remove(rm, spec.Name)
		_ = d.api.RemoveVolume(rm, vol)
		cancel()
		if docker.IsNotFound(err) {
			return nil, core.Errorf(core.NotFound, "Image %q is not on engine %q. Tern never pulls from a registry: build or load the image there first.", img, d.remote)
		}
		return nil, core.Wrap(err, core.Unavailable, "Engine %q could not create the container: %v", d.remote, err)
	}
	p.id = id
	j.ContainerID = id
	if err := d.copyIn(ctx, id, j, w); err != nil {
		p.remove(context.WithoutCancel(ctx))
		return nil, core.Wrap(err, core.Unavailable, "Could not copy the job's inputs to engine %q: %v", d.remote, err)
	}
	if err := d.api.Start(ctx, id); err != nil {
		p.remove(context.WithoutCancel(ctx))
		return nil, core.Wrap(err, core.Unavailable, "Engine %q could not start the container: %v", d.remote, err)
	}
	return p, nil
}

// copyIn streams the job's inputs into its volume as one tar: data/<file>,
// params.json, dataset.json (when the job has read settings) and an empty
// outputs/ the container's user may write.
func (d *dockerEngine) copyIn(ctx context.Context, id string, j *Job, w workdir) error {
	files := []struct{ src, name string }{
		{j.Spec.DataPath, "data/" + filepath.Base(j.Spec.DataPath)},
		{w.params, "params.json"},
	}
	if j.Spec.DataReading != nil {
		files = append(files, struct{ src, name string }{w.reading, "dataset.json"})
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeInputs(pw, files))
	}()
	err := d.api.CopyTo(ctx, id, "/tern", pr)
	pr.CloseWithError(errors.New("copy ended"))
	return err
}

func writeInputs(out io.Writer, files []struct{ src, name string }) error {
	tw := tar.NewWriter(out)
	now := time.Now()
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: remoteUID, Gid: remoteUID, ModTime: now})
	}
	if err := dir("data", 0o755); err != nil {
		return err
	}
	if err := dir("outputs", 0o755); err != nil {
		return err
	}
	for _, f := range files {
		in, err := os.Open(f.src)
		if err != nil {
			return err
		}
		st, err := in.Stat()
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o444, Size: st.Size(), Uid: remoteUID, Gid: remoteUID, ModTime: st.ModTime()})
		}
		if err == nil {
			_, err = io.Copy(tw, in)
		}
		in.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// remoteProc is a job's container on another engine, with its volume.
type remoteProc struct {
	*dockerProc
	volume string
	engine string
}

// copyOut copies /tern/outputs back into dir.
func (p *remoteProc) copyOut(ctx context.Context, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	rc, err := p.api.CopyFrom(ctx, p.id, "/tern/outputs")
	if err != nil {
		return core.Wrap(err, core.Unavailable, "engine %q: %v", p.engine, err)
	}
	defer rc.Close()
	return extractTar(rc, dir, "outputs")
}

func (p *remoteProc) remove(ctx context.Context) {
	p.dockerProc.remove(ctx)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = p.api.RemoveVolume(ctx, p.volume)
}

// extractTar writes the regular files and directories under top/ of a tar
// stream (what the engine sends for a copy of a folder called top) into
// dir. The stream comes from another machine: a name that leaves dir is
// refused, and links, devices and other special files are skipped.
func extractTar(r io.Reader, dir, top string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return core.Wrap(err, core.Internal, "The outputs sent back are not a readable archive: %v", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name != top && !strings.HasPrefix(name, top+"/") {
			return core.Errorf(core.Internal, "The outputs sent back hold %q, outside %s/.", h.Name, top)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(name, top), "/")
		if rel == "" {
			continue
		}
		if !filepath.IsLocal(rel) {
			return core.Errorf(core.Internal, "The outputs sent back hold %q, which leaves the outputs folder.", h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFrom(tr, dir, target); err != nil {
				return err
			}
		}
	}
}

// writeFrom writes one file under dir, refusing to follow a symbolic link
// an earlier entry could have left on the way.
func writeFrom(r io.Reader, dir, target string) error {
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(parent); err != nil {
		return err
	} else if base, err := filepath.EvalSymlinks(dir); err != nil || !strings.HasPrefix(real+string(filepath.Separator), base+string(filepath.Separator)) && real != base {
		return core.Errorf(core.Internal, "The outputs sent back would write outside the outputs folder.")
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
